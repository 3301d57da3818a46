//! Progress for logs without a terminal: a line per event and a status line every 30 s.
//!
//! Written to the process's stderr itself, not through `eprintln!`, so the lines show in CI
//! logs even inside a test harness that captures printed output.

use std::io::Write as _;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::report::cell_text;
use crate::run::Progress;
use crate::units::fmt_secs;

macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// Milliseconds for short spans: `150 ms`.
fn fmt_ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// How often the plain status line is printed.
pub const STATUS_EVERY: Duration = Duration::from_secs(30);

/// Prints progress lines to stderr until the run's sender is dropped.
pub async fn plain(mut rx: UnboundedReceiver<Progress>, total: usize, hold: Duration, speed: u32) {
    let held = if speed > 1 {
        format!("{} of broker time ({} real, clocks ×{speed})", fmt_secs(hold), fmt_secs(hold.div_f64(f64::from(speed))))
    } else {
        fmt_secs(hold)
    };
    let start = Instant::now();
    let mut done = 0usize;
    let mut load = crate::run::schedule::Load::default();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + STATUS_EVERY, STATUS_EVERY);
    loop {
        tokio::select! {
            p = rx.recv() => match p {
                None => return,
                Some(p) => {
                    let t = fmt_secs(start.elapsed());
                    match p {
                        Progress::BrokerStarting { tag } => say!("[{t}] {tag}: starting broker"),
                        Progress::Pulling { tag, image } => say!("[{t}] {tag}: pulling {image}"),
                        Progress::BrokerReady { tag, startup, probing } => say!(
                            "[{t}] {tag}: broker ready in {} (its listeners answered {} after the container started), sessions held for {held}",
                            fmt_secs(startup),
                            fmt_ms(probing),
                        ),
                        Progress::BrokerFailed { tag, why } => say!("[{t}] {tag}: broker failed: {why}"),
                        Progress::ProxyReady { tag, proxy, startup } => {
                            say!("[{t}] {tag}: {proxy} ready in {:.2} s", startup.as_secs_f64())
                        }
                        Progress::ProxyFailed { tag, why } => say!("[{t}] {tag}: {why}"),
                        // One line per start would drown the log; the status line counts them.
                        Progress::CellStarting { .. } | Progress::CellHolding { .. } => {}
                        Progress::Load(now) => load = now,
                        Progress::CellFinished(c) => {
                            done += 1;
                            say!("[{t}] {}: {} ({done}/{total})", c.id(), cell_text(&c));
                        }
                    }
                }
            },
            _ = tick.tick() => say!(
                "[{}] {done}/{total} cells finished; {} queued, {} starting, {} running (brokers and cells); hold {held}",
                fmt_secs(start.elapsed()),
                load.queued,
                load.starting,
                load.running,
            ),
        }
    }
}
