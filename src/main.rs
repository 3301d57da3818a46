//! `mosquitto-matrix`: the command line around the same engine `cargo test --test matrix` uses.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mosquitto_matrix::client::command;
use mosquitto_matrix::client::contract::ContractEnv;
use mosquitto_matrix::client::serve::{self, Tuning};
use mosquitto_matrix::engine::cleanup::{self, EngineError};
use mosquitto_matrix::engine::discover::{self, DiscoverError};
use mosquitto_matrix::engine::labels;
use mosquitto_matrix::judge::results::RunResult;
use mosquitto_matrix::plan::{CommandClient, ConfigError, ImageSet, MatrixFile, Plan, Profile, Selection, SelectionOrigin, Shard, Transport};
use mosquitto_matrix::report::compare::{self, MergeError};
use mosquitto_matrix::report::{self, baseline, junit, live, progress};
use mosquitto_matrix::run;
use mosquitto_matrix::units::parse_duration;

/// Exit status when the harness itself could not run.
const HARNESS_FAILED: u8 = 2;

/// Why the command line could not do what it was asked: printed once, in [`main`], with exit status 2.
#[derive(Debug, thiserror::Error)]
enum Error {
    /// matrix.toml or what was asked of it.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Docker engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The registry, while discovering tags.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// Shards that do not fit together.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// A file that could not be read, parsed or written, with the file named.
    #[error("{0}")]
    File(String),
}

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
    /// The summary and a grid that fits 120 columns, identical rows folded.
    Table,
    /// The full grid, one row per tag, every cell's text and cause (wide).
    TableWide,
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
// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
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
        /// Comma-separated routes from client to broker: direct, tls, nginx, nginx-tls, haproxy, haproxy-tls, caddy,
        /// caddy-tls, apache, apache-tls. Example: --routes direct,tls,nginx
        #[arg(long, value_delimiter = ',')]
        routes: Option<Vec<String>>,
        /// Run every column under each of these MQTT versions; a column under another version than its own is
        /// named <column>+v<version>. Example: --protocol 3.1.1,5
        #[arg(long = "protocol", value_delimiter = ',', value_name = "VERSIONS")]
        protocols: Option<Vec<String>>,
        /// A program as one more column, run once per cell under the command contract (see README) and reported with
        /// no expectation; repeatable. NAME:tcp=COMMAND for MQTT over TCP. Example: --client 'my-app=java -jar app.jar'
        #[arg(long = "client", value_name = "NAME=COMMAND")]
        clients: Vec<String>,
        /// Only profiles of this transport. Example: --transport ws
        #[arg(long, value_enum)]
        transport: Option<TransportArg>,
        /// Hold for a quick look; below 300 s every OK says the 5-minute mark was not reached. Example: --hold 20s
        #[arg(long)]
        hold: Option<String>,
        /// Run the brokers' and clients' clocks this many times faster (a preloaded time library); times are still
        /// reported in broker time, and each broker proves its speed first. Example: --speed 10
        #[arg(long, env = "MATRIX_SPEED")]
        speed: Option<String>,
        /// Which versions of the clients matrix.toml offers in several versions (`versions = [...]`) run: `all`, or
        /// X@VERSION and X@* in place of X's default versions. Example: --client-versions paho-java@1.1.0,paho-java@1.2.5
        #[arg(long, env = "MATRIX_CLIENT_VERSIONS")]
        client_versions: Option<String>,
        /// This shard of the cells (whole tags dealt round-robin); reassemble with `merge`. Example: --shard 2/3
        #[arg(long)]
        shard: Option<Shard>,
        /// Start every tag this many times, as independent brokers with their own cells (rows `TAG#K`), to put the
        /// load of a large set on the machine. Example: --copies 8
        #[arg(long, env = "MATRIX_COPIES")]
        copies: Option<String>,
        /// How many cores' worth of start-ups (brokers, clients) run at once; cells wait in a queue for room.
        /// Default: the machine's cores. Example: --jobs 1
        #[arg(long, env = "MATRIX_JOBS")]
        jobs: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Show the cells whose outcome changed between two JSON results, and the tags whose image digest changed.
    /// Example: mosquitto-matrix diff old.json new.json
    Diff {
        /// The older result.
        old: PathBuf,
        /// The newer result.
        new: PathBuf,
        /// table or markdown. Example: --format markdown
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// End times closer than this (broker time) are the same. Example: --within 1s
        #[arg(long, default_value = "5s")]
        within: String,
    },
    /// Check that two columns of one result behave alike on every tag: the same outcome, the broker's PING and the
    /// end within --within, the same close frame from the client; any difference is shown with both transcripts and
    /// exits 1. Example: mosquitto-matrix agree target/matrix/debian.json --columns paho-java-1.2.5,paho-java@1.2.5
    Agree {
        /// The result.
        result: PathBuf,
        /// The two columns, comma-separated. Example: --columns paho-java-1.2.5,paho-java@1.2.5
        #[arg(long, value_delimiter = ',', num_args = 1, required = true)]
        columns: Vec<String>,
        /// Times closer than this (broker time) are the same. Example: --within 0.5s
        #[arg(long, default_value = "0.5s")]
        within: String,
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
    /// Play one built-in profile as a command client: reads the contract's MATRIX_* environment, connects to
    /// MATRIX_HOST:MATRIX_PORT, prints the contract's lines. Example: MATRIX_…=… mosquitto-matrix client --profile rfc6455
    Client {
        /// The built-in profile. Example: --profile paho-java-1.2.5
        #[arg(long)]
        profile: String,
        /// Keepalive finer than MATRIX_KEEPALIVE_SECS' whole seconds. Example: --keepalive 1500ms
        #[arg(long)]
        keepalive: Option<String>,
        /// How long late-pong waits before its PONG (default 15s). Example: --late-pong 15s
        #[arg(long)]
        late_pong: Option<String>,
        /// Bound on connect + upgrade + CONNACK (default 20s). Example: --setup-timeout 20s
        #[arg(long)]
        setup_timeout: Option<String>,
    },
    /// The run's reaper (started by `run` itself): waits until its standard input closes — the run ended or was
    /// killed — then kills the run's client processes and removes its containers.
    #[command(hide = true)]
    Reap {
        /// The run id.
        #[arg(long)]
        run: String,
    },
    /// Write a result's outcomes into matrix.toml as the new expectations, and each tag's registry digest into
    /// [sets.<set>.digests], keeping comments and layout. Example: mosquitto-matrix baseline target/matrix/debian.json
    Baseline {
        /// The result to accept.
        result: PathBuf,
    },
}

/// The set named, or the file's default.
fn pick_set<'a>(file: &'a MatrixFile, set: &Option<String>) -> Result<&'a ImageSet, Error> {
    let name = set.clone().unwrap_or_else(|| file.default_set.clone());
    file.set(&name).ok_or_else(|| Error::File(format!("--set: unknown set {name:?}")))
}

fn read_result(path: &Path) -> Result<RunResult, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::File(format!("{}: cannot read: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::File(format!("{}: not a mosquitto-matrix JSON result: {e}", path.display())))
}

fn print(r: &RunResult, format: Format) {
    match format {
        Format::Table => print!("{}", report::table(r)),
        Format::TableWide => print!("{}", report::table_wide(r)),
        Format::Markdown => print!("{}", report::markdown(r)),
        Format::Json => println!("{}", report::json(r)),
    }
}

/// Prints the result and writes the files asked for.
fn emit(r: &RunResult, output: &Output) -> Result<(), Error> {
    let io = |path: &Path, e: std::io::Error| Error::File(format!("{}: {e}", path.display()));
    print(r, output.format);
    if let Some(dir) = output.out.as_deref() {
        for p in report::write_files(r, dir).map_err(|e| Error::File(e.to_string()))? {
            eprintln!("written: {}", p.display());
        }
    }
    if let Some(path) = output.junit.as_deref() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        report::write_whole(path, junit::junit(r).as_bytes()).map_err(|e| io(path, e))?;
        eprintln!("written: {}", path.display());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config;
    let done = match cli.command {
        Command::Run { set, tags, add_tags, new, profiles, routes, protocols, clients, transport, hold, speed, client_versions, shard, copies, jobs, output } => {
            let asked = RunArgs { set, tags, add_tags, new, profiles, routes, protocols, clients, transport, hold, speed, client_versions, shard, copies, jobs };
            run_matrix(&config, asked, &output).await
        }
        Command::Diff { old, new, format, within } => diff(&old, &new, format, &within),
        Command::Agree { result, columns, within } => agree(&result, &columns, &within),
        Command::Merge { shards, output } => merge(&config, &shards, &output),
        Command::Discover { set, new_only } => discover_tags(&config, &set, new_only).await,
        Command::Baseline { result } => accept_baseline(&config, &result),
        Command::Reap { run } => reap(&run).await,
        Command::Client { profile, keepalive, late_pong, setup_timeout } => {
            play_profile(&profile, [keepalive, late_pong, setup_timeout]).await
        }
    };
    done.unwrap_or_else(|e| {
        eprintln!("mosquitto-matrix: {e}");
        ExitCode::from(HARNESS_FAILED)
    })
}

/// What `run` was asked, besides where its output goes.
struct RunArgs {
    set: Option<String>,
    tags: Option<Vec<String>>,
    add_tags: Option<Vec<String>>,
    new: bool,
    profiles: Option<Vec<String>>,
    routes: Option<Vec<String>>,
    protocols: Option<Vec<String>>,
    clients: Vec<String>,
    transport: Option<TransportArg>,
    hold: Option<String>,
    speed: Option<String>,
    client_versions: Option<String>,
    shard: Option<Shard>,
    copies: Option<String>,
    jobs: Option<String>,
}

/// `run`: the matrix on real brokers.
async fn run_matrix(config: &Path, asked: RunArgs, output: &Output) -> Result<ExitCode, Error> {
    let file = MatrixFile::load(config)?;
    let mut tags = asked.tags;
    if let Some(extra) = asked.add_tags {
        let s = pick_set(&file, &asked.set)?;
        let mut all = s.tags.clone();
        all.extend(extra.into_iter().filter(|t| !s.tags.contains(t)));
        tags = Some(all);
    }
    if asked.new {
        let d = discover::discover(pick_set(&file, &asked.set)?).await?;
        eprintln!("mosquitto-matrix: {d}");
        if d.not_in_set.is_empty() {
            eprintln!("no new release to run");
            return Ok(ExitCode::SUCCESS);
        }
        tags = Some(d.not_in_set);
    }
    let mut profiles = asked.profiles;
    if let Some(t) = asked.transport {
        let want = match t {
            TransportArg::Ws => Transport::Ws,
            TransportArg::Tcp => Transport::Tcp,
        };
        let base: Vec<String> = profiles.unwrap_or_else(|| file.columns.iter().map(|c| c.name().to_string()).collect());
        let transport_of = |n: &str| {
            Profile::from_name(n).map(|p| p.transport()).or_else(|| file.clients.iter().find(|c| c.name == n).map(|c| c.transport))
        };
        profiles = Some(base.into_iter().filter(|n| transport_of(n).is_none_or(|t| t == want)).collect());
    }
    let clients = asked
        .clients
        .iter()
        .map(|c| CommandClient::parse_ad_hoc(c).map_err(|e| Error::File(format!("--client: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let sel = Selection {
        set: asked.set,
        tags,
        profiles,
        routes: asked.routes,
        protocols: asked.protocols,
        clients,
        hold: asked.hold,
        speed: asked.speed,
        copies: asked.copies,
        jobs: asked.jobs,
        client_versions: asked.client_versions,
        origin: SelectionOrigin::CommandLine,
    };
    let mut plan = Plan::new(&file, &sel)?;
    let order = plan.tags.clone();
    if let Some(s) = asked.shard {
        plan = plan.shard(s);
    }
    cleanup::check_engine(Duration::from_secs(10)).await?;
    let run_id = labels::new_run_id();
    eprintln!("run id {run_id}: find its containers with docker ps --filter label={}={run_id}", labels::RUN_LABEL);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let shown = if std::io::stderr().is_terminal() {
        let plan = plan.clone();
        tokio::spawn(async move { live::terminal(rx, &plan).await })
    } else {
        tokio::spawn(progress::plain(rx, plan.cells.len(), plan.timing.hold, plan.speed))
    };
    let mut result = tokio::select! {
        r = run::run(&plan, &run_id, Some(tx)) => r,
        signal = interrupted() => {
            // testcontainers' clean-up runs on drop, which a signal skips: do it here, and end
            // every command client's process group.
            command::kill_all();
            match cleanup::remove_run(&run_id).await {
                Ok(r) if r.failed == 0 => eprintln!("mosquitto-matrix: {signal}: removed {} container(s) of run {run_id}", r.removed),
                Ok(r) => eprintln!(
                    "mosquitto-matrix: {signal}: removed {} container(s) of run {run_id}; {} could not be removed: {}",
                    r.removed,
                    r.failed,
                    cleanup::removal_command(&run_id)
                ),
                Err(why) => eprintln!(
                    "mosquitto-matrix: {signal}: the containers of run {run_id} could not be removed ({why}); its reaper removes them once the engine answers; by hand: {}",
                    cleanup::removal_command(&run_id)
                ),
            }
            return Ok(ExitCode::from(if signal == "SIGINT" { 130 } else { 143 }));
        }
    };
    let _ = shown.await;
    compare::reorder(&mut result, &order);
    result.shard = asked.shard.map(|s| s.to_string());
    emit(&result, output)?;
    if let Some(fault) = &result.harness_fault {
        eprintln!("mosquitto-matrix: the harness could not finish the run: {fault}");
    }
    if let Some(left) = &result.left_behind {
        eprintln!("mosquitto-matrix: {left}");
    }
    Ok(ExitCode::from(compare::exit_status(&result) as u8))
}

/// `client`: one built-in profile under the command contract.
async fn play_profile(name: &str, tuning: [Option<String>; 3]) -> Result<ExitCode, Error> {
    let profile = Profile::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
        Error::File(format!("--profile: unknown profile {name:?}; built-in profiles: {}", known.join(", ")))
    })?;
    let env = ContractEnv::read(|k| std::env::var(k).ok()).map_err(|e| Error::File(e.to_string()))?;
    let [keepalive, late_pong, setup_timeout] = tuning.map(|t| {
        t.map(|text| parse_duration(&text).map_err(|e| Error::File(format!("client: {e}")))).transpose()
    });
    let tuning = Tuning { keepalive: keepalive?, late_pong: late_pong?, setup_timeout: setup_timeout? };
    serve::print(&serve::Said { stdout: vec![serve::client_line(profile)], stderr: Vec::new(), status: 0 });
    let said = serve::serve(profile, &env, tuning).await;
    serve::print(&said);
    Ok(ExitCode::from(said.status))
}

/// `diff`: the cells whose outcome changed between two results.
fn diff(old: &Path, new: &Path, format: Format, within: &str) -> Result<ExitCode, Error> {
    let within = parse_duration(within).map_err(|e| Error::File(format!("--within: {e}")))?;
    let (old, new) = (read_result(old)?, read_result(new)?);
    if let Some(note) = compare::clocks_note(&old, &new) {
        println!("{note}");
    }
    let changes = compare::diff_within(&old, &new, within);
    let digests = compare::digest_changes(&old, &new);
    let markdown = matches!(format, Format::Markdown);
    if markdown {
        print!("{}", compare::diff_markdown(&changes));
    } else {
        print!("{}", compare::diff_table(&changes));
    }
    if !digests.is_empty() {
        print!("{}{}", if markdown { "\n" } else { "" }, compare::digest_lines(&digests, markdown));
    }
    // A rebuilt image is shown, but only a changed outcome makes the exit status 1.
    Ok(ExitCode::from(u8::from(!changes.is_empty())))
}

/// `agree`: two columns of one result behave alike.
fn agree(result: &Path, columns: &[String], within: &str) -> Result<ExitCode, Error> {
    let within = parse_duration(within).map_err(|e| Error::File(format!("--within: {e}")))?;
    let [a, b] = columns else {
        return Err(Error::File(format!("--columns: give two columns, as in paho-java-1.2.5,paho-java@1.2.5 (got {})", columns.len())));
    };
    let r = read_result(result)?;
    for c in [a, b] {
        if !r.profiles.contains(c) {
            return Err(Error::File(format!("--columns: {} has no column {c:?}; its columns: {}", result.display(), r.profiles.join(", "))));
        }
    }
    let found = report::agree::agree(&r, a, b, within);
    print!("{found}");
    Ok(ExitCode::from(u8::from(!found.holds())))
}

/// `merge`: shard results into one.
fn merge(config: &Path, shards: &[PathBuf], output: &Output) -> Result<ExitCode, Error> {
    let parts = shards.iter().map(|p| Ok((p.display().to_string(), read_result(p)?))).collect::<Result<Vec<_>, Error>>()?;
    let mut merged = compare::merge(parts)?;
    // The file gives the tags their order when it can be read; a merge does not need it otherwise.
    if let Ok(file) = MatrixFile::load(config) {
        if let Some(set) = file.set(&merged.set) {
            compare::reorder(&mut merged, &set.tags);
        }
    }
    emit(&merged, output)?;
    Ok(ExitCode::from(compare::exit_status(&merged) as u8))
}

/// `discover`: the registry's release tags that matrix.toml does not list.
async fn discover_tags(config: &Path, set: &Option<String>, new_only: bool) -> Result<ExitCode, Error> {
    let file = MatrixFile::load(config)?;
    let d = discover::discover(pick_set(&file, set)?).await?;
    if new_only {
        println!("{}", d.not_in_set.join(","));
    } else {
        println!("{d}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `baseline`: a result's outcomes written into matrix.toml as its expectations.
fn accept_baseline(config: &Path, result: &Path) -> Result<ExitCode, Error> {
    let r = read_result(result)?;
    let shown = config.display();
    let text = std::fs::read_to_string(config).map_err(|e| Error::File(format!("{shown}: cannot read: {e}")))?;
    let b = baseline::apply(&text, &r).map_err(|e| Error::File(format!("{shown}: {e}")))?;
    // Refuse to write a file that would no longer load.
    MatrixFile::parse(config, &b.text)
        .map_err(|e| Error::File(format!("the baseline would make matrix.toml invalid: {e}")))?;
    std::fs::write(config, &b.text).map_err(|e| Error::File(format!("{shown}: cannot write: {e}")))?;
    for c in &b.changed {
        println!("{c}");
    }
    for d in &b.digests {
        println!("{d}");
    }
    for t in &b.added_tags {
        println!("added tag {t} to set {}", r.set);
    }
    for s in &b.skipped {
        println!("{s}: ERROR, expectation left as it was");
    }
    println!("{shown}: {} expectation(s) written", b.changed.len());
    Ok(ExitCode::SUCCESS)
}

/// `reap`: waits for the end of standard input, then sweeps the run.
async fn reap(run_id: &str) -> Result<ExitCode, Error> {
    // A signal meant for the harness's terminal must not end the reaper before its work.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut sink)
    })
    .await;
    run::reaper::sweep(run_id).await;
    Ok(ExitCode::SUCCESS)
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
