//! `mosquitto-matrix`: the command line around the same engine `cargo test --test matrix` uses.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mosquitto_matrix::matrix::{MatrixFile, Plan, Selection, SelectionOrigin, Shard};
use mosquitto_matrix::profile::{Profile, Transport};
use mosquitto_matrix::results::RunResult;
use mosquitto_matrix::{baseline, cleanup, compare, discover, junit, labels, live, progress, report, run};

/// Exit status when the harness itself could not run.
const HARNESS_FAILED: u8 = 2;

#[derive(Parser)]
#[command(
    name = "mosquitto-matrix",
    version,
    about = "Hold MQTT-over-WebSocket sessions past the 5-minute mark on every Mosquitto image tag and fill a pass/EOF table",
    after_help = "Exit status: 0 every cell met matrix.toml, 1 an outcome changed (regression or improvement), 2 the harness could not run.\n\
                  Examples:\n  mosquitto-matrix run --set debian\n  mosquitto-matrix run --set eclipse --tags 2.0.22 --format markdown --out target/matrix\n  \
                  mosquitto-matrix diff last-night.json tonight.json\n  mosquitto-matrix merge shard-1.json shard-2.json --out merged\n  \
                  mosquitto-matrix baseline target/matrix/debian.json"
)]
struct Cli {
    /// The matrix file. Example: --config ./matrix.toml
    #[arg(long, global = true, default_value = "matrix.toml", env = "MATRIX_CONFIG")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Markdown,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum TransportArg {
    Ws,
    Tcp,
}

/// Where a result goes: stdout in one format, and optionally files.
#[derive(clap::Args)]
struct Output {
    /// How to print the result on stdout. Example: --format markdown
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also write <set>.md and <set>.json into this directory. Example: --out target/matrix
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write JUnit XML, one test case per cell. Example: --junit target/matrix/junit.xml
    #[arg(long)]
    junit: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the matrix on real brokers. Example: mosquitto-matrix run --set debian --shard 1/2 --out target/shard1
    Run {
        /// The image set from matrix.toml. Example: --set debian
        #[arg(long)]
        set: Option<String>,
        /// Comma-separated tags; a tag not in matrix.toml (a new release) runs with no expectation. Example: --tags 2.0.15,2.0.22
        #[arg(long, value_delimiter = ',')]
        tags: Option<Vec<String>>,
        /// Tags to run besides the set's own (a release that just shipped), reported as new. Example: --add-tags 2.0.22
        #[arg(long, value_delimiter = ',', conflicts_with = "tags")]
        add_tags: Option<Vec<String>>,
        /// Run exactly the release tags the registry has and matrix.toml does not list (see `discover`), reported as new.
        /// Example: --set eclipse --new
        #[arg(long, conflicts_with = "tags")]
        new: bool,
        /// Comma-separated profiles (columns). Example: --profiles paho-java-1.2.5,rfc6455,tcp
        #[arg(long, value_delimiter = ',')]
        profiles: Option<Vec<String>>,
        /// Only profiles of this transport. Example: --transport ws
        #[arg(long, value_enum)]
        transport: Option<TransportArg>,
        /// Hold for a quick look; below 300 s every OK says the 5-minute mark was not reached. Example: --hold 20s
        #[arg(long)]
        hold: Option<String>,
        /// This shard of the cells (whole tags dealt round-robin); reassemble with `merge`. Example: --shard 2/3
        #[arg(long)]
        shard: Option<Shard>,
        #[command(flatten)]
        output: Output,
    },
    /// Show the cells whose outcome changed between two JSON results. Example: mosquitto-matrix diff old.json new.json
    Diff {
        /// The older result.
        old: PathBuf,
        /// The newer result.
        new: PathBuf,
        /// table or markdown. Example: --format markdown
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Merge shard results into one result and one table. Example: mosquitto-matrix merge a.json b.json --out merged
    Merge {
        /// The shard results.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// List the set's image repository in its registry (HTTP API v2) and show the release tags matrix.toml does not
    /// list yet. Example: mosquitto-matrix discover --set eclipse
    Discover {
        /// The image set from matrix.toml (default: the file's default set). Example: --set eclipse
        #[arg(long)]
        set: Option<String>,
        /// Print only the new release tags, comma-separated (for scripts and CI). Example: --new-only
        #[arg(long)]
        new_only: bool,
    },
    /// Write a result's outcomes into matrix.toml as the new expectations, keeping comments and layout.
    /// Example: mosquitto-matrix baseline target/matrix/debian.json
    Baseline {
        /// The result to accept.
        result: PathBuf,
    },
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("mosquitto-matrix: {msg}");
    ExitCode::from(HARNESS_FAILED)
}

fn load(path: &Path) -> Result<MatrixFile, ExitCode> {
    MatrixFile::load(path).map_err(fail)
}

/// The set named, or the file's default.
fn pick_set<'a>(file: &'a MatrixFile, set: &Option<String>) -> Result<&'a mosquitto_matrix::matrix::ImageSet, ExitCode> {
    let name = set.clone().unwrap_or_else(|| file.default_set.clone());
    file.set(&name).ok_or_else(|| fail(format!("--set: unknown set {name:?}")))
}

fn read_result(path: &Path) -> Result<RunResult, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not a mosquitto-matrix JSON result: {e}", path.display()))
}

fn print(r: &RunResult, format: Format) {
    match format {
        Format::Table => print!("{}", report::table(r)),
        Format::Markdown => print!("{}", report::markdown(r)),
        Format::Json => println!("{}", report::json(r)),
    }
}

/// Prints the result and writes the files asked for.
fn emit(r: &RunResult, output: &Output) -> Result<(), String> {
    print(r, output.format);
    if let Some(dir) = output.out.as_deref() {
        for p in report::write_files(r, dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            eprintln!("written: {}", p.display());
        }
    }
    if let Some(path) = output.junit.as_deref() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, junit::junit(r)).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("written: {}", path.display());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { set, tags, add_tags, new, profiles, transport, hold, shard, output } => {
            let file = match load(&cli.config) {
                Ok(f) => f,
                Err(code) => return code,
            };
            let mut tags = tags;
            if let Some(extra) = add_tags {
                let s = match pick_set(&file, &set) {
                    Ok(s) => s,
                    Err(code) => return code,
                };
                let mut all = s.tags.clone();
                all.extend(extra.into_iter().filter(|t| !s.tags.contains(t)));
                tags = Some(all);
            }
            if new {
                let s = match pick_set(&file, &set) {
                    Ok(s) => s,
                    Err(code) => return code,
                };
                match discover::discover(s).await {
                    Ok(d) if d.not_in_set.is_empty() => {
                        eprintln!("mosquitto-matrix: {d}\nno new release to run");
                        return ExitCode::SUCCESS;
                    }
                    Ok(d) => {
                        eprintln!("mosquitto-matrix: {d}");
                        tags = Some(d.not_in_set);
                    }
                    Err(e) => return fail(e),
                }
            }
            let mut profiles = profiles;
            if let Some(t) = transport {
                let want = match t {
                    TransportArg::Ws => Transport::Ws,
                    TransportArg::Tcp => Transport::Tcp,
                };
                let base: Vec<String> = profiles.unwrap_or_else(|| file.profiles.iter().map(|p| p.name().to_string()).collect());
                profiles = Some(base.into_iter().filter(|n| Profile::from_name(n).is_none_or(|p| p.transport() == want)).collect());
            }
            let sel = Selection { set, tags, profiles, hold, origin: SelectionOrigin::CommandLine };
            let mut plan = match Plan::new(&file, &sel) {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            let order = plan.tags.clone();
            if let Some(s) = shard {
                plan = plan.shard(s);
            }
            if let Err(e) = cleanup::check_engine(Duration::from_secs(10)).await {
                return fail(e);
            }
            let run_id = labels::new_run_id();
            eprintln!("run id {run_id}: find its containers with docker ps --filter label={}={run_id}", labels::RUN_LABEL);
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let shown = if std::io::stderr().is_terminal() {
                let plan = plan.clone();
                tokio::spawn(async move { live::terminal(rx, &plan).await })
            } else {
                tokio::spawn(progress::plain(rx, plan.cells.len(), plan.timing.hold))
            };
            let mut result = tokio::select! {
                r = run::run(&plan, &run_id, Some(tx)) => r,
                signal = interrupted() => {
                    // testcontainers' clean-up runs on drop, which a signal skips: do it here.
                    let removed = cleanup::remove_run(&run_id).await;
                    eprintln!("mosquitto-matrix: {signal}: removed {} container(s) of run {run_id}", removed.unwrap_or(0));
                    return ExitCode::from(if signal == "SIGINT" { 130 } else { 143 });
                }
            };
            let _ = shown.await;
            compare::reorder(&mut result, &order);
            result.shard = shard.map(|s| s.to_string());
            if let Err(e) = emit(&result, &output) {
                return fail(e);
            }
            ExitCode::from(compare::exit_status(&result) as u8)
        }
        Command::Diff { old, new, format } => {
            let (old, new) = match (read_result(&old), read_result(&new)) {
                (Ok(o), Ok(n)) => (o, n),
                (Err(e), _) | (_, Err(e)) => return fail(e),
            };
            let changes = compare::diff(&old, &new);
            match format {
                Format::Markdown => print!("{}", compare::diff_markdown(&changes)),
                _ => print!("{}", compare::diff_table(&changes)),
            }
            ExitCode::from(u8::from(!changes.is_empty()))
        }
        Command::Merge { shards, output } => {
            let mut parts = Vec::new();
            for p in &shards {
                match read_result(p) {
                    Ok(r) => parts.push((p.display().to_string(), r)),
                    Err(e) => return fail(e),
                }
            }
            let mut merged = match compare::merge(parts) {
                Ok(m) => m,
                Err(e) => return fail(e),
            };
            if let Ok(file) = MatrixFile::load(&cli.config) {
                if let Some(set) = file.set(&merged.set) {
                    compare::reorder(&mut merged, &set.tags);
                }
            }
            if let Err(e) = emit(&merged, &output) {
                return fail(e);
            }
            ExitCode::from(compare::exit_status(&merged) as u8)
        }
        Command::Discover { set, new_only } => {
            let file = match load(&cli.config) {
                Ok(f) => f,
                Err(code) => return code,
            };
            let s = match pick_set(&file, &set) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match discover::discover(s).await {
                Ok(d) if new_only => {
                    println!("{}", d.not_in_set.join(","));
                    ExitCode::SUCCESS
                }
                Ok(d) => {
                    println!("{d}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Baseline { result } => {
            let r = match read_result(&result) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let text = match std::fs::read_to_string(&cli.config) {
                Ok(t) => t,
                Err(e) => return fail(format!("{}: cannot read: {e}", cli.config.display())),
            };
            let b = match baseline::apply(&text, &r) {
                Ok(b) => b,
                Err(e) => return fail(format!("{}: {e}", cli.config.display())),
            };
            // Refuse to write a file that would no longer load.
            if let Err(e) = MatrixFile::parse(&cli.config, &b.text) {
                return fail(format!("the baseline would make matrix.toml invalid: {e}"));
            }
            if let Err(e) = std::fs::write(&cli.config, &b.text) {
                return fail(format!("{}: cannot write: {e}", cli.config.display()));
            }
            for c in &b.changed {
                println!("{c}");
            }
            for t in &b.added_tags {
                println!("added tag {t} to set {}", r.set);
            }
            for s in &b.skipped {
                println!("{s}: ERROR, expectation left as it was");
            }
            println!("{}: {} expectation(s) written", cli.config.display(), b.changed.len());
            ExitCode::SUCCESS
        }
    }
}

/// Waits for SIGINT or SIGTERM and names it.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
