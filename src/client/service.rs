//! A command column's per-run service: one program started once per run for all the cells
//! of a column (the browser column's one Chromium), whose address every cell gets.
//!
//! matrix.toml's `[clients.X]` says `service = ["node", "clients/browser/serve.mjs"]` (argv,
//! no shell, relative paths from matrix.toml's folder, where it also runs). The service:
//!
//! - runs in a process group of its own (registered with [`crate::client::groups`], so the
//!   CLI's SIGINT/SIGTERM handler ends it with the cells), with the harness's environment
//!   plus the run's extra variables (the time library on an accelerated run), and `TMPDIR` a
//!   folder of its own that the harness removes once the service has ended — however it
//!   ended, SIGKILL included (a folder whose harness died is removed by the next start);
//! - prints `service: <value>` on stdout once it is ready: the first stdout line that starts
//!   so. Until then and after, its output (both pipes) is read to the end and its last lines
//!   kept, bounded, for error messages;
//! - gets a pipe as stdin that the harness holds open for the run: its end means the run is
//!   over, even when the harness was SIGKILLed; the service should then end itself;
//! - is ended by [`Service::stop`]: stdin closed, SIGTERM to its group, [`TERM_GRACE`], then
//!   SIGKILL to the group, and a bounded wait until no process of the group is alive.
//!   Dropping a [`Service`] SIGKILLs its group.
//!
//! Every cell of the column gets [`Service::env`], `MATRIX_SERVICE=<value>`, added to the
//! command contract's environment.
//!
//! ## How the runner uses it (integration contract)
//!
//! Once per run, for each command column whose `service` is set, before any cell of that
//! column starts: `service::start(&client, &workdir, &extra_env, bound)` with the cells'
//! working directory and extra environment, and a real-time `bound` (the set-up timeout).
//! - `Ok(service)`: each cell's `CommandSpec::extra_env` gets `service.env()` appended.
//!   At the end of the run `service.stop().await`; when the run's future is dropped instead
//!   (the CLI's SIGINT/SIGTERM), dropping the `Service` SIGKILLs its group and removes its
//!   folder. A cell that could not use the service can say why with `service.ended()`
//!   (`Some("exited 1; its last output: …")` once the service has died).
//! - `Err(e)`: every cell of that column is ERROR, said once: the column's cells point at
//!   one note that is `e`'s text (which names the column and quotes the service's output);
//!   none of them is started.
//!
//! Does I/O: starts a process, reads its pipes, signals its group, reads `/proc`, makes and
//! removes its temporary folder.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::client::cell::setup_hint;
use crate::client::command::{program, TERM_GRACE};
use crate::client::groups::Group;
use crate::client::output::{drain, LineSink, Tail};
use crate::plan::CommandClient;

/// The word a service's ready line starts with: `service: <value>`.
pub const READY_PREFIX: &str = "service: ";
/// The variable every cell of the column gets the service's value in.
pub const ENV_VAR: &str = "MATRIX_SERVICE";
/// How long [`Service::stop`] waits, after SIGKILL, for the group's processes to be gone.
const GONE_WAIT: Duration = Duration::from_secs(2);
/// How long the output of a service that ended is still read (a grandchild may hold a pipe).
const READ_GRACE: Duration = Duration::from_millis(500);
/// A service's temporary folder is `<temp dir>/<FOLDER_PREFIX><harness pid>-<random>`: short,
/// since programs make sockets below it and a socket path has at most 107 bytes.
const FOLDER_PREFIX: &str = "mm-svc-";
/// How long dropping a service waits for its SIGKILLed group before removing its folder.
const DROP_WAIT: Duration = Duration::from_millis(300);

/// Why a column's service could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The column declares no service (or no runtime).
    #[error("client {column} has no {what}")]
    NotDeclared {
        /// `service` or `runtime`.
        what: &'static str,
        /// The column.
        column: String,
    },
    /// The program could not be started.
    #[error("cannot start the {what} of client {column}: {program:?} ({why}); working directory {workdir}, PATH={path}{hint}")]
    Spawn {
        /// `service` or `runtime`.
        what: &'static str,
        /// The column.
        column: String,
        /// `argv[0]` as written.
        program: String,
        /// The operating system's words.
        why: String,
        /// Where it was to run.
        workdir: String,
        /// The harness's `PATH`.
        path: String,
        /// `; is it installed? run …` when the column names its set-up.
        hint: String,
    },
    /// It ended before printing its ready line.
    #[error("the {what} of client {column} {ended} before it printed `{what}: …`; {tail}{hint}")]
    Exited {
        /// `service` or `runtime`.
        what: &'static str,
        /// The column.
        column: String,
        /// How it ended, e.g. `exited 2`.
        ended: String,
        /// Its last output, quoted.
        tail: String,
        /// `; is it installed? run …` when the column names its set-up.
        hint: String,
    },
    /// It printed no ready line within the bound, and was stopped.
    #[error("the {what} of client {column} printed no `{what}: …` line within {:.1} s (real time) and was stopped; {tail}", .bound.as_secs_f64())]
    Silent {
        /// `service` or `runtime`.
        what: &'static str,
        /// The column.
        column: String,
        /// The bound it had, in real time.
        bound: Duration,
        /// Its last output, quoted.
        tail: String,
    },
    /// Its temporary folder could not be made.
    #[error("cannot make a temporary folder for the {what} of client {column}: {path}: {why}")]
    Folder {
        /// `service` or `runtime`.
        what: &'static str,
        /// The column.
        column: String,
        /// The folder.
        path: String,
        /// The operating system's words.
        why: String,
    },
    /// Its ready line carries no value.
    #[error("the {what} of client {column} printed `{what}:` with no value and was stopped; {tail}")]
    Empty {
        /// `service` or `runtime`.
        what: &'static str,
        /// The column.
        column: String,
        /// Its last output, quoted.
        tail: String,
    },
}

/// The program's stdout: kept in the shared tail, and its first ready line handed over.
struct Stdout {
    tail: Arc<Mutex<Tail>>,
    prefix: &'static str,
    ready: Option<oneshot::Sender<String>>,
}

impl LineSink for Stdout {
    fn push(&mut self, line: &str) {
        let bare = self.prefix.trim_end();
        if let Some(value) = line.strip_prefix(self.prefix).or_else(|| (line.trim_end() == bare).then_some("")) {
            if let Some(tx) = self.ready.take() {
                let _ = tx.send(value.trim().to_string());
            }
        }
        if let Ok(mut t) = self.tail.lock() {
            t.push(line);
        }
    }
}

/// Shares one tail between the stderr reader and the service.
struct Shared(Arc<Mutex<Tail>>);

impl LineSink for Shared {
    fn push(&mut self, line: &str) {
        if let Ok(mut t) = self.0.lock() {
            t.push(line);
        }
    }
}

/// What a per-run program is to the harness: a column's `service`, or its `runtime`
/// (`client::runtime`). Both start, live and end the same way; they differ in the argv they
/// come from, the word their ready line starts with, and how errors name them.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// `service` or `runtime`: how errors name it.
    pub what: &'static str,
    /// Its ready line's start: `service: `, `runtime: `.
    pub ready: &'static str,
    /// Where its argv is in the column.
    pub argv: fn(&CommandClient) -> Option<&Vec<String>>,
}

impl Kind {
    /// A column's service ([`READY_PREFIX`]).
    pub const SERVICE: Kind = Kind { what: "service", ready: READY_PREFIX, argv: |c| c.service.as_ref() };
}

/// A column's service, running: its value for the cells, its process group, its output.
#[derive(Debug)]
pub struct Service {
    kind: Kind,
    column: String,
    value: String,
    // Set once the leader has exited (`None` inside: it could not be waited for).
    exit: watch::Receiver<Option<Option<ExitStatus>>>,
    // Dropped last: SIGKILLs the group and unregisters it.
    group: Group,
    stdin: Option<ChildStdin>,
    tail: Arc<Mutex<Tail>>,
    readers: Vec<JoinHandle<()>>,
    waiter: JoinHandle<()>,
    folder: PathBuf,
}

/// Whether a process is gone: no such pid, or a zombie.
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rfind(')').is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Removes the folders of services whose harness is gone (a harness that was SIGKILLed).
fn remove_stale_folders(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(FOLDER_PREFIX).and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if is_gone(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A fresh folder for one service, named after the harness's pid.
fn make_folder() -> Result<PathBuf, (PathBuf, std::io::Error)> {
    let tmp = std::env::temp_dir();
    remove_stale_folders(&tmp);
    let path = tmp.join(format!("{FOLDER_PREFIX}{}-{:08x}", std::process::id(), rand::random::<u32>()));
    match std::fs::create_dir(&path) {
        Ok(()) => Ok(path),
        Err(e) => Err((path, e)),
    }
}

/// How a program ended, in a cause's words: `exited 1`, `was killed by signal 9`.
pub(crate) fn describe(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.map(|s| (s.code(), s.signal())) {
        Some((Some(code), _)) => format!("exited {code}"),
        Some((None, Some(sig))) => format!("was killed by signal {sig}"),
        _ => "ended".to_string(),
    }
}

/// Starts the service of `client` and waits, at most `bound` (real time), for its
/// `service: <value>` line. `workdir` is where it runs and its relative paths start
/// (matrix.toml's folder); `extra_env` is added to the harness's environment.
pub async fn start(client: &CommandClient, workdir: &Path, extra_env: &[(String, String)], bound: Duration) -> Result<Service, ServiceError> {
    launch(Kind::SERVICE, client, workdir, extra_env, bound).await
}

/// Starts the per-run program of `client` that `kind` names, as [`start`] does a service.
pub async fn launch(kind: Kind, client: &CommandClient, workdir: &Path, extra_env: &[(String, String)], bound: Duration) -> Result<Service, ServiceError> {
    let (what, column) = (kind.what, client.name.clone());
    let argv = match (kind.argv)(client) {
        Some(argv) if !argv.is_empty() => argv,
        _ => return Err(ServiceError::NotDeclared { what, column }),
    };
    let argv0 = &argv[0];
    let folder = make_folder().map_err(|(path, e)| ServiceError::Folder { what, column: column.clone(), path: path.display().to_string(), why: e.to_string() })?;
    let mut cmd = Command::new(program(argv0, workdir));
    cmd.args(&argv[1..])
        .current_dir(workdir)
        .envs(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("TMPDIR", &folder)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&folder);
            return Err(ServiceError::Spawn {
                what,
                column: column.clone(),
                program: argv0.clone(),
                why: e.to_string(),
                workdir: workdir.display().to_string(),
                path: std::env::var("PATH").unwrap_or_default(),
                hint: setup_hint(client),
            });
        }
    };
    // A child just spawned has its pid until it is waited for; without one there is no group
    // to signal (and group 0 would be the harness's own).
    let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) else {
        let status = child.wait().await.ok();
        let _ = std::fs::remove_dir_all(&folder);
        return Err(ServiceError::Exited { what, column, ended: describe(status), tail: "it printed nothing".to_string(), hint: setup_hint(client) });
    };
    let (service, rx) = Service::watch(kind, column, child, Group::new(pid), folder);
    service.ready(rx, bound, client).await
}

impl Service {
    /// Reads the pipes of a started program and waits for its exit in tasks of their own.
    fn watch(kind: Kind, column: String, mut child: Child, group: Group, folder: PathBuf) -> (Service, oneshot::Receiver<String>) {
        let tail = Arc::new(Mutex::new(Tail::default()));
        let (tx, rx) = oneshot::channel();
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            let out = Mutex::new(Stdout { tail: tail.clone(), prefix: kind.ready, ready: Some(tx) });
            readers.push(tokio::spawn(async move { drain(pipe, &out).await }));
        }
        if let Some(pipe) = child.stderr.take() {
            let out = Mutex::new(Shared(tail.clone()));
            readers.push(tokio::spawn(async move { drain(pipe, &out).await }));
        }
        let stdin = child.stdin.take();
        let (exit_tx, exit) = watch::channel(None);
        let waiter = tokio::spawn(async move {
            let status = child.wait().await.ok();
            let _ = exit_tx.send(Some(status));
        });
        (Service { kind, column, value: String::new(), exit, group, stdin, tail, readers, waiter, folder }, rx)
    }

    /// Waits for the ready line (at most `bound`), the end of stdout without one (the sender
    /// dropped), or the bound; anything but a ready line with a value ends the program.
    async fn ready(mut self, rx: oneshot::Receiver<String>, bound: Duration, client: &CommandClient) -> Result<Service, ServiceError> {
        let (what, column) = (self.kind.what, self.column.clone());
        match timeout(bound, rx).await {
            Ok(Ok(value)) if !value.is_empty() => {
                self.value = value;
                Ok(self)
            }
            Ok(Ok(_)) => {
                self.end().await;
                Err(ServiceError::Empty { what, column, tail: self.shown_tail() })
            }
            Ok(Err(_)) => {
                // Stdout ended: the program exited, or closed it; either way it is no service.
                let ended = match self.exit_within(TERM_GRACE).await {
                    Some(status) => describe(status),
                    None => "closed its stdout".to_string(),
                };
                self.end().await;
                Err(ServiceError::Exited { what, column, ended, tail: self.shown_tail(), hint: setup_hint(client) })
            }
            Err(_) => {
                self.end().await;
                Err(ServiceError::Silent { what, column, bound, tail: self.shown_tail() })
            }
        }
    }

    /// The leader's exit status once it has exited, waited for at most `bound`; `None` while
    /// it still runs (`Some(None)`: it exited but could not be waited for).
    pub(crate) async fn exit_within(&self, bound: Duration) -> Option<Option<ExitStatus>> {
        let mut exit = self.exit.clone();
        let status = match timeout(bound, exit.wait_for(Option::is_some)).await {
            Ok(Ok(status)) => *status,
            _ => None,
        };
        status
    }

    /// What every cell of the column gets in its environment: `MATRIX_SERVICE=<value>`.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![(ENV_VAR.to_string(), self.value.clone())]
    }

    /// The value the service printed after `service: `.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The column whose service this is.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The id of the service's process group (its leader's pid).
    pub fn process_group(&self) -> i32 {
        self.group.id()
    }

    /// The service's temporary folder (its `TMPDIR`), removed when it has ended.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The last lines the service printed (both pipes), oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.tail.lock().map(|t| t.lines()).unwrap_or_default()
    }

    /// How the service ended, if it has (e.g. `exited 1; its last output: …`), for a cell that
    /// could not reach it; `None` while it runs.
    pub fn ended(&mut self) -> Option<String> {
        let exit = *self.exit.borrow();
        exit.map(|status| format!("{}; {}", describe(status), self.shown_tail()))
    }

    /// Ends the service: its stdin closed, SIGTERM to its group, [`TERM_GRACE`], SIGKILL to
    /// the group; then waits (bounded) until no process of the group is alive.
    pub async fn stop(mut self) {
        self.end().await;
    }

    /// The leader's exit as it comes, and the shared tail of its output (for a runtime's cells).
    pub(crate) fn watchers(&self) -> (watch::Receiver<Option<Option<ExitStatus>>>, Arc<Mutex<Tail>>) {
        (self.exit.clone(), self.tail.clone())
    }

    pub(crate) fn shown_tail(&self) -> String {
        self.tail.lock().map(|t| t.shown()).unwrap_or_else(|_| "its output is lost".to_string())
    }

    async fn end(&mut self) {
        drop(self.stdin.take());
        self.group.signal(Signal::SIGTERM);
        let _ = self.exit_within(TERM_GRACE).await;
        // Whatever is left of the group, the leader's children included, leader gone or not.
        self.group.signal(Signal::SIGKILL);
        let _ = self.exit_within(GONE_WAIT).await;
        self.group.wait_empty(GONE_WAIT).await;
        for r in self.readers.drain(..) {
            let _ = timeout(READ_GRACE, r).await;
        }
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // The group is SIGKILLed (again, after a stop); its folder goes once nothing of it
        // can write there any more, waited for briefly: a drop cannot await.
        self.group.signal(Signal::SIGKILL);
        // Its waiter holds the leader (killed on drop too) and is of no use any more.
        self.waiter.abort();
        let until = std::time::Instant::now() + DROP_WAIT;
        while !crate::client::groups::alive_in_group(self.group.id()).is_empty() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}
