//! Admission: cells start while the machine has room, not all at once.
//!
//! Two budgets, each a fair (first come, first served) weighted semaphore:
//! - **start-up CPU**: the cores' worth of start-up work allowed at once, [`START_WINDOW`] of
//!   CPU time per core. A broker or a cell takes its [`Cost::start_cpu`] from it when it starts
//!   and gives it back the moment the broker answers (a broker) or accepts the session (a
//!   cell), so whatever starts finishes starting within about a window, and a client's
//!   set-up or its answer to a PING never waits long on the CPU.
//! - **memory**: most of the memory available when the run began; a broker or a cell holds its
//!   [`Cost::memory_mb`] for its whole life.
//!
//! Brokers ask first (every tag asks for its broker before any of its cells), so under a
//! full queue the brokers start, then the cells in waves. A cost larger than a whole budget
//! takes the whole budget: such a start runs alone, it is never refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::plan::Cost;

/// How much CPU time per core may be in start-up at once.
pub const START_WINDOW: Duration = Duration::from_secs(1);
/// The share of the memory available at the start of a run that its cells may hold.
pub const MEMORY_SHARE: f64 = 0.8;

/// What the machine offers a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Cores' worth of start-up work at once (`--jobs`, else the machine's cores).
    pub cores: u32,
    /// Megabytes the run's brokers and cells may hold at once.
    pub memory_mb: u32,
}

impl Capacity {
    /// The machine's capacity: `jobs` cores when given, else the cores this process may use,
    /// and [`MEMORY_SHARE`] of the memory the kernel says is available.
    pub fn of_machine(jobs: Option<u32>) -> Capacity {
        let cores = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
        let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| mem_available_mb(&t)).unwrap_or(4096);
        Capacity { cores: cores.max(1), memory_mb: ((f64::from(available) * MEMORY_SHARE) as u32).max(1) }
    }
}

/// `MemAvailable` of a `/proc/meminfo` text, in megabytes.
pub fn mem_available_mb(meminfo: &str) -> Option<u32> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    u32::try_from(kb / 1024).ok()
}

/// How many are waiting, starting and running now, for live progress.
#[derive(Debug, Default)]
struct Counts {
    queued: AtomicUsize,
    starting: AtomicUsize,
    running: AtomicUsize,
}

/// A snapshot of the scheduler's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Waiting for room.
    pub queued: usize,
    /// Admitted, not yet accepted by the broker (or not yet answering, for a broker).
    pub starting: usize,
    /// Started and holding (or, for a broker, serving its cells).
    pub running: usize,
}

/// The run's admission control; cheap to clone, every clone shares the budgets.
#[derive(Debug, Clone)]
pub struct Scheduler {
    capacity: Capacity,
    cpu: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    counts: Arc<Counts>,
}

/// What one admitted broker or cell holds: its memory for its life, its start-up CPU until
/// [`Ticket::started`]. Dropping it gives everything back.
#[derive(Debug)]
pub struct Ticket {
    _memory: Option<OwnedSemaphorePermit>,
    cpu: Option<OwnedSemaphorePermit>,
    running: bool,
    counts: Arc<Counts>,
}

impl Ticket {
    /// It is up: its start-up CPU goes back to the queue; its memory stays held.
    pub fn started(&mut self) {
        self.cpu = None;
        if !self.running {
            self.running = true;
            self.counts.starting.fetch_sub(1, Ordering::Relaxed);
            self.counts.running.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let count = if self.running { &self.counts.running } else { &self.counts.starting };
        count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A cost's weights on the two budgets, in milliseconds of CPU and megabytes, each at least
/// 1 and at most the whole budget.
pub fn weights(cost: Cost, capacity: Capacity) -> (u32, u32) {
    let cpu_total = cpu_budget(capacity);
    let cpu = u32::try_from(cost.start_cpu.as_millis()).unwrap_or(u32::MAX).clamp(1, cpu_total);
    let memory = cost.memory_mb.clamp(1, capacity.memory_mb);
    (cpu, memory)
}

fn cpu_budget(capacity: Capacity) -> u32 {
    capacity.cores.saturating_mul(START_WINDOW.as_millis() as u32).max(1)
}

impl Scheduler {
    /// A scheduler with the capacity given.
    pub fn new(capacity: Capacity) -> Scheduler {
        Scheduler {
            capacity,
            cpu: Arc::new(Semaphore::new(cpu_budget(capacity) as usize)),
            memory: Arc::new(Semaphore::new(capacity.memory_mb as usize)),
            counts: Arc::new(Counts::default()),
        }
    }

    /// What the scheduler admits by.
    pub fn capacity(&self) -> Capacity {
        self.capacity
    }

    /// Waits for room for `cost`, then holds it: memory first, then start-up CPU.
    pub async fn admit(&self, cost: Cost) -> Ticket {
        let (cpu, memory) = weights(cost, self.capacity);
        self.counts.queued.fetch_add(1, Ordering::Relaxed);
        // The semaphores are never closed, so acquiring cannot fail; if it did, the start
        // would only go ahead without its permit, never hang.
        let memory = Arc::clone(&self.memory).acquire_many_owned(memory).await.ok();
        let cpu = Arc::clone(&self.cpu).acquire_many_owned(cpu).await.ok();
        self.counts.queued.fetch_sub(1, Ordering::Relaxed);
        self.counts.starting.fetch_add(1, Ordering::Relaxed);
        Ticket { _memory: memory, cpu, running: false, counts: Arc::clone(&self.counts) }
    }

    /// How many wait, start and run now.
    pub fn load(&self) -> Load {
        Load {
            queued: self.counts.queued.load(Ordering::Relaxed),
            starting: self.counts.starting.load(Ordering::Relaxed),
            running: self.counts.running.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CORES: Capacity = Capacity { cores: 2, memory_mb: 1000 };

    fn cost(ms: u64, mb: u32) -> Cost {
        Cost { start_cpu: Duration::from_millis(ms), memory_mb: mb }
    }

    #[test]
    fn a_cost_larger_than_a_budget_takes_the_whole_budget_and_a_free_one_takes_one_unit() {
        assert_eq!(weights(cost(400, 80), TWO_CORES), (400, 80));
        assert_eq!(weights(cost(5000, 5000), TWO_CORES), (2000, 1000));
        assert_eq!(weights(cost(0, 0), TWO_CORES), (1, 1));
    }

    #[test]
    fn available_memory_is_read_from_meminfo_in_megabytes() {
        let text = "MemTotal:       24576000 kB\nMemFree:        1000 kB\nMemAvailable:   20480000 kB\n";
        assert_eq!(mem_available_mb(text), Some(20000));
        assert_eq!(mem_available_mb("MemTotal: 1 kB\n"), None);
    }

    #[tokio::test]
    async fn a_start_waits_until_those_before_it_are_up_when_the_cores_are_taken() {
        let s = Scheduler::new(TWO_CORES);
        let mut a = s.admit(cost(1500, 10)).await;
        let b = s.admit(cost(400, 10)).await;
        // 1.9 s of start-up on 2 cores' 2 s: a third of 0.4 s must wait.
        let third = tokio::spawn({
            let s = s.clone();
            async move { s.admit(cost(400, 10)).await }
        });
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!third.is_finished(), "admitted while the cores were taken");
        assert_eq!(s.load(), Load { queued: 1, starting: 2, running: 0 });
        a.started();
        let c = tokio::time::timeout(Duration::from_secs(1), third).await.expect("admitted once a was up").expect("no panic");
        assert_eq!(s.load(), Load { queued: 0, starting: 2, running: 1 });
        drop((a, b, c));
        assert_eq!(s.load(), Load::default());
    }

    #[tokio::test]
    async fn memory_is_held_for_a_cells_whole_life_not_only_its_start() {
        let s = Scheduler::new(Capacity { cores: 2, memory_mb: 100 });
        let mut a = s.admit(cost(10, 80)).await;
        a.started();
        let next = tokio::spawn({
            let s = s.clone();
            async move { s.admit(cost(10, 40)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!next.is_finished(), "admitted beyond the memory budget");
        drop(a);
        tokio::time::timeout(Duration::from_secs(1), next).await.expect("admitted once a ended").expect("no panic");
    }
}
