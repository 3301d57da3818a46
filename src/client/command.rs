//! A command column's cell run as a process of its own: the program started under the
//! contract, its connection through the recording proxy, its output kept (bounded), its
//! process group ended with the cell. What follows its end is `client::cell`'s, shared with
//! a cell run inside its column's runtime (`client::runtime`).
//!
//! Whatever the program does — not found, exits at once, hangs, ignores SIGTERM, prints
//! megabytes — the cell ends by the bound and no process of it outlives the run.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};
use tokio::time::{timeout, Instant};

use crate::client::cell::{self, setup_hint, CapturedOutput, ProcessEnd, Ran};
pub use crate::client::cell::CommandSpec;
use crate::client::contract::ContractEnv;
use crate::client::groups::Group;
use crate::client::output::drain;
use crate::engine::priority;
use crate::judge::record::SessionRecord;
use crate::plan::column::SELF_PROGRAM;
use crate::plan::{CommandClient, Profile, Timing};

pub use crate::client::groups::kill_all;
pub use crate::client::output::{MAX_LINE, TAIL_LINES};

/// How long a client (or a column's service) gets between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long the processes a client left behind when it exited may take to die once killed.
const LEFT_BEHIND_WAIT: Duration = Duration::from_secs(2);

/// The harness's own CLI, for commands that name [`SELF_PROGRAM`]: `MATRIX_SELF` when set,
/// else this process when it is the CLI, else the CLI built beside a test binary
/// (`target/<profile>/deps/x` → `target/<profile>/mosquitto-matrix`).
pub fn own_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("MATRIX_SELF") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(SELF_PROGRAM));
    if exe.file_name().is_some_and(|n| n == SELF_PROGRAM) {
        return exe;
    }
    match exe.parent() {
        Some(deps) if deps.file_name().is_some_and(|n| n == "deps") => deps.with_file_name(SELF_PROGRAM),
        Some(dir) => dir.join(SELF_PROGRAM),
        None => PathBuf::from(SELF_PROGRAM),
    }
}

/// The program to start: [`SELF_PROGRAM`] is the harness's own CLI; a relative path with a
/// `/` is taken from `workdir`.
pub(crate) fn program(argv0: &str, workdir: &Path) -> PathBuf {
    let p = Path::new(argv0);
    if argv0 == SELF_PROGRAM {
        own_cli()
    } else if argv0.contains('/') && p.is_relative() {
        workdir.join(p)
    } else {
        p.to_path_buf()
    }
}

/// A built-in profile as a command column: the harness's own CLI playing it under the
/// contract (`mosquitto-matrix client --profile P`), with the durations the contract does not
/// carry. An accelerated run plays every built-in profile this way, on the brokers' clock.
/// Its set-up bound comes from the contract's `MATRIX_SETUP_SECS`.
pub fn builtin_command(profile: Profile, timing: &Timing) -> CommandClient {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let argv = [SELF_PROGRAM, "client", "--profile", profile.name(), "--keepalive"];
    let mut command: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    command.extend([ms(timing.keepalive), "--late-pong".into(), ms(timing.late_pong)]);
    // In runtime mode every cell of the profile plays in one such process (`client::host`).
    let runtime = [command.clone(), vec!["--runtime".to_string()]].concat();
    CommandClient {
        name: profile.name().to_string(),
        command,
        transport: profile.transport(),
        path: crate::plan::column::DEFAULT_PATH.to_string(),
        description: Some(format!("built-in profile {profile}, played by the harness's CLI as a command")),
        seen_in: None,
        setup: None,
        accelerates: true,
        cost: Some(crate::plan::Cost::SELF_COMMAND),
        runtime_cost: None,
        protocol: crate::wire::mqtt::Protocol::V311,
        service: None,
        runtime: Some(runtime),
        artefact: None,
    }
}

/// Runs one command cell to its end and returns its record. Never fails: a cell that could
/// not run is a record with [`crate::judge::record::End::HarnessError`] that says why.
pub async fn run(spec: &CommandSpec) -> SessionRecord {
    let proxy = match cell::start_proxy(spec).await {
        Ok(p) => p,
        Err(e) => return cell::error_record(spec, e),
    };
    let env = cell::contract_env(spec, proxy.port());
    let child = match spawn(spec, &env) {
        Ok(child) => child,
        Err(why) => return cell::error_record(spec, why),
    };
    let ran = wait(spec, child).await;
    cell::finish(spec, proxy, ran).await
}

/// Starts the cell's program in a process group of its own, under the contract's environment.
fn spawn(spec: &CommandSpec, env: &ContractEnv) -> Result<Child, String> {
    let c = &spec.client;
    let Some(argv0) = c.command.first() else { return Err(format!("client {}: its command is empty", c.name)) };
    let mut cmd = Command::new(program(argv0, &spec.workdir));
    cmd.args(&c.command[1..])
        .current_dir(&spec.workdir)
        .envs(env.vars())
        .envs(spec.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd.spawn().map_err(|e| {
        let path = std::env::var("PATH").unwrap_or_default();
        format!("cannot start client {}: {argv0:?} ({e}); working directory {}, PATH={path}{}", c.name, spec.workdir.display(), setup_hint(c))
    })
}

/// Once the cell's session is accepted, its program's group to `engine::priority`'s answering
/// niceness: its start-up gave way to the brokers, its answers to their PINGs must not. Never
/// ends without a group.
async fn raise_once_accepted(spec: &CommandSpec, group: Option<&Group>) {
    let Some(group) = group else { return std::future::pending().await };
    spec.started.wait().await;
    priority::raise_client(group.id());
}

/// Reads the program's output and waits for its exit, at most its bound; then SIGTERM,
/// [`TERM_GRACE`], SIGKILL. Nothing of its group is left when this returns.
async fn wait(spec: &CommandSpec, mut child: Child) -> Ran {
    let started = Instant::now();
    let group = child.id().map(|id| Group::new(id as i32));
    let out = Mutex::new(CapturedOutput::default());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (status, killed) = {
    let reading = async {
        let a = async {
            if let Some(p) = stdout {
                drain(p, &out).await;
            }
        };
        let b = async {
            if let Some(p) = stderr {
                drain(p, &out).await;
            }
        };
        tokio::join!(a, b);
    };
    let waiting = async {
        let exit = exit_or_kill(&mut child, group.as_ref(), spec.bound());
        tokio::pin!(exit);
        tokio::select! {
            s = &mut exit => s,
            () = raise_once_accepted(spec, group.as_ref()) => exit.await,
        }
    };
    // The output is read until the pipes close, but never past the exit plus a moment: a
    // grandchild may hold them open.
    tokio::pin!(reading);
    tokio::pin!(waiting);
    let mut read_all = false;
    let (status, killed) = tokio::select! {
        s = &mut waiting => s,
        _ = &mut reading => {
            read_all = true;
            waiting.await
        }
    };
    if !read_all {
        let _ = timeout(Duration::from_millis(500), &mut reading).await;
    }
    (status, killed)
    };
    let real_end = started.elapsed();
    if let Some(g) = group {
        g.end(LEFT_BEHIND_WAIT).await;
    }
    let end = status.map(ProcessEnd::of);
    let output = out.into_inner().unwrap_or_else(|p| p.into_inner());
    Ran { output, end, killed, real_end, how_ended: Ran::signals(end), broke: None }
}

/// The program's exit within `bound`, else SIGTERM to its group, [`TERM_GRACE`], SIGKILL:
/// its status, and whether the harness had to end it.
async fn exit_or_kill(child: &mut Child, group: Option<&Group>, bound: Duration) -> (Option<ExitStatus>, bool) {
    if let Ok(status) = timeout(bound, child.wait()).await {
        return (status.ok(), false);
    }
    if let Some(g) = group {
        g.signal(Signal::SIGTERM);
    }
    if let Ok(status) = timeout(TERM_GRACE, child.wait()).await {
        return (status.ok(), true);
    }
    if let Some(g) = group {
        g.signal(Signal::SIGKILL);
    }
    (child.wait().await.ok(), true)
}

/// What the cause of a cell of a real-clock client (one that cannot follow the time library, see
/// `CommandClient::real_clock`) adds at `speed`: the hold it was given, in real seconds, and its
/// keepalive off, as the contract passed them.
pub fn real_clock_note(hold: Duration, speed: u32) -> String {
    let f = f64::from(speed.max(1));
    format!(
        "its clock cannot follow ×{speed} (accelerates = false): it ran on real time, given hold {:.1} s (÷{speed}) and keepalive 0 (off)",
        hold.as_secs_f64() / f,
    )
}
