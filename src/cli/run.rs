//! `run`: the matrix on real brokers.
//!
//! The selection starts from the `MATRIX_*` variables (`Selection::from_env`, as
//! `cargo test --test matrix` reads them) and every flag given is laid over its variable, so
//! a shell that exports `MATRIX_SET=debian` runs debian from either; an error in a value
//! names the flag when a flag gave it, else the variable.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use clap::ValueEnum;
use mosquitto_matrix::client::command;
use mosquitto_matrix::engine::cleanup;
use mosquitto_matrix::engine::discover;
use mosquitto_matrix::engine::labels;
use mosquitto_matrix::plan::{CommandClient, MatrixFile, Plan, Selection, SelectionOrigin, Shard};
use mosquitto_matrix::report::compare;
use mosquitto_matrix::report::exit;
use mosquitto_matrix::report::{live, progress};
use mosquitto_matrix::run::stop::StopSignal;

use crate::cli::output::{emit, ReportOutput};
use crate::cli::{pick_set, Error};

/// A transport, as `--transport` spells it.
#[derive(Clone, Copy, ValueEnum)]
pub enum TransportArg {
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over TCP.
    Tcp,
}

/// `run`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The image set from matrix.toml (else MATRIX_SET). Example: --set debian
    #[arg(long)]
    set: Option<String>,
    /// Comma-separated tags (else MATRIX_TAGS); a tag not in matrix.toml (a new release) runs with no expectation.
    /// Example: --tags 2.0.15,2.0.22
    #[arg(long, value_delimiter = ',')]
    tags: Option<Vec<String>>,
    /// Tags to run besides the set's own (a release that just shipped), reported as new. Example: --add-tags 2.0.22
    #[arg(long, value_delimiter = ',', conflicts_with = "tags")]
    add_tags: Option<Vec<String>>,
    /// Run exactly the release tags the registry has and matrix.toml does not list (see `discover`), reported as new;
    /// when there are none, the (empty) reports are still written and the exit status is 4. Example: --set eclipse --new
    #[arg(long, conflicts_with_all = ["tags", "add_tags"])]
    new: bool,
    /// Comma-separated profiles (columns), each once (else MATRIX_PROFILES). Example: --profiles paho-java-1.2.5,rfc6455,tcp
    #[arg(long, value_delimiter = ',')]
    profiles: Option<Vec<String>>,
    /// Comma-separated routes from client to broker (else MATRIX_ROUTES): direct, tls, nginx, nginx-tls, haproxy,
    /// haproxy-tls, caddy, caddy-tls, apache, apache-tls. Example: --routes direct,tls,nginx
    #[arg(long, value_delimiter = ',')]
    routes: Option<Vec<String>>,
    /// Run every column under each of these MQTT versions (else MATRIX_PROTOCOL); a column under another version than
    /// its own is named <column>+v<version>. Example: --protocol 3.1.1,5
    #[arg(long = "protocol", value_delimiter = ',', value_name = "VERSIONS")]
    protocols: Option<Vec<String>>,
    /// A program as one more column, run once per cell under the command contract (docs/src/command-contract.md) and reported with
    /// no expectation; repeatable. NAME:tcp=COMMAND for MQTT over TCP. Example: --client 'my-app=java -jar app.jar'
    #[arg(long = "client", value_name = "NAME=COMMAND")]
    clients: Vec<String>,
    /// Only the columns of this transport, as each column runs (a +v5 column speaks its base's); none left is an
    /// error. Example: --transport ws
    #[arg(long, value_enum)]
    transport: Option<TransportArg>,
    /// Hold for a quick look (else MATRIX_HOLD); below 300 s every OK is unproven. Example: --hold 20s
    #[arg(long)]
    hold: Option<String>,
    /// Run the brokers' and clients' clocks this many times faster (a preloaded time library); times are still
    /// reported in broker time, and each broker proves its speed first (else MATRIX_SPEED). Example: --speed 10
    #[arg(long)]
    speed: Option<String>,
    /// Which versions of the clients matrix.toml offers in several versions (`versions = [...]`) run: `all`, or
    /// X@VERSION and X@* in place of X's default versions (else MATRIX_CLIENT_VERSIONS).
    /// Example: --client-versions paho-java@1.1.0,paho-java@1.2.5
    #[arg(long)]
    client_versions: Option<String>,
    /// This shard of the cells (whole tags dealt round-robin); reassemble with `merge`. Example: --shard 2/3
    #[arg(long)]
    shard: Option<Shard>,
    /// Start every tag this many times, as independent brokers with their own cells (rows `TAG#K`), to put the
    /// load of a large set on the machine (else MATRIX_COPIES). Example: --copies 8
    #[arg(long)]
    copies: Option<String>,
    /// How many cores' worth of start-ups (brokers, clients) run at once; cells wait in a queue for room.
    /// Default: the machine's cores (else MATRIX_JOBS). Example: --jobs 1
    #[arg(long)]
    jobs: Option<String>,
    /// How the real clients start: `runtime`, one process per client version for the whole run, each cell a
    /// connection to it (columns with `runtime = [...]`), or `process`, one process per cell (else
    /// MATRIX_CLIENT_MODE; default runtime). Example: --client-mode process
    #[arg(long, value_name = "MODE")]
    client_mode: Option<String>,
    #[command(flatten)]
    output: ReportOutput,
}

impl Args {
    /// The selection the flags make, before it is laid over the environment's.
    fn flags(&self) -> Result<Selection, Error> {
        let clients = self
            .clients
            .iter()
            .map(|c| CommandClient::parse_ad_hoc(c).map_err(|e| Error::Argument { name: "--client".into(), what: e.to_string() }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selection {
            set: self.set.clone(),
            tags: self.tags.clone(),
            profiles: self.profiles.clone(),
            routes: self.routes.clone(),
            protocols: self.protocols.clone(),
            clients,
            transport: self.transport.map(|t| match t {
                TransportArg::Ws => "ws".to_string(),
                TransportArg::Tcp => "tcp".to_string(),
            }),
            hold: self.hold.clone(),
            speed: self.speed.clone(),
            copies: self.copies.clone(),
            jobs: self.jobs.clone(),
            client_mode: self.client_mode.clone(),
            client_versions: self.client_versions.clone(),
            origin: SelectionOrigin::CommandLine,
            from_command_line: Vec::new(),
        })
    }
}

/// Runs the selection; the exit status is the result's (`compare::exit_status`).
pub async fn exec(config: &Path, args: Args) -> Result<u8, Error> {
    let file = MatrixFile::load(config)?;
    let mut sel = Selection::from_env().overridden_by(args.flags()?);
    let set_flag = sel.origin_of("set");
    let tags_from_env = sel.tags.is_some() && !sel.from_command_line.contains(&"tags");
    let mut nothing_new = false;
    if let Some(extra) = &args.add_tags {
        if tags_from_env {
            return Err(Error::Environment { name: "MATRIX_TAGS".into(), what: "is set, and --add-tags adds to the set's own tags: unset one".into() });
        }
        let s = pick_set(&file, sel.set.as_deref(), &set_flag)?;
        let mut all = s.tags.clone();
        all.extend(extra.iter().filter(|t| !s.tags.contains(t)).cloned());
        sel.tags = Some(all);
        sel.from_command_line.push("tags");
    }
    if args.new {
        if tags_from_env {
            return Err(Error::Environment { name: "MATRIX_TAGS".into(), what: "is set, and --new runs the registry's new tags instead: unset one".into() });
        }
        let d = discover::discover(pick_set(&file, sel.set.as_deref(), &set_flag)?).await?;
        eprintln!("mosquitto-matrix: {d}");
        if d.not_in_set.is_empty() {
            eprintln!("mosquitto-matrix: no new release to run; writing the empty reports");
            nothing_new = true;
        } else {
            sel.tags = Some(d.not_in_set);
            sel.from_command_line.push("tags");
        }
    }
    let mut plan = Plan::new(&file, &sel)?;
    if nothing_new {
        plan.tags.clear();
        plan.cells.clear();
    }
    let order = plan.tags.clone();
    if let Some(s) = args.shard {
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
        r = mosquitto_matrix::run::run(&plan, &run_id, Some(tx)) => r,
        signal = StopSignal::wait() => {
            // testcontainers' clean-up runs on drop, which a signal skips: do it here, and end
            // every command client's process group.
            command::kill_all();
            say_removed(signal, &run_id).await;
            return Ok(stopped_status(signal));
        }
    };
    let _ = shown.await;
    compare::reorder(&mut result, &order);
    result.shard = args.shard.map(|s| s.to_string());
    emit(&result, &args.output)?;
    if let Some(fault) = &result.harness_fault {
        eprintln!("mosquitto-matrix: the harness could not finish the run: {fault}");
    }
    if let Some(left) = &result.left_behind {
        eprintln!("mosquitto-matrix: {left}");
    }
    Ok(compare::exit_status(&result))
}

/// Removes the run's containers after a signal, and says how that went.
async fn say_removed(signal: StopSignal, run_id: &str) {
    let name = signal.name();
    match cleanup::remove_run(run_id).await {
        Ok(r) if r.failed == 0 => eprintln!("mosquitto-matrix: {name}: removed {} container(s) of run {run_id}", r.removed),
        Ok(r) => eprintln!(
            "mosquitto-matrix: {name}: removed {} container(s) of run {run_id}; {} could not be removed: {}",
            r.removed,
            r.failed,
            cleanup::removal_command(run_id)
        ),
        Err(why) => eprintln!(
            "mosquitto-matrix: {name}: the containers of run {run_id} could not be removed ({why}); its reaper removes them once the engine answers; by hand: {}",
            cleanup::removal_command(run_id)
        ),
    }
}

/// The exit status after a signal ended the run (the table in `report::exit`).
fn stopped_status(signal: StopSignal) -> u8 {
    match signal {
        StopSignal::Interrupt => exit::INTERRUPTED,
        StopSignal::Terminate => exit::TERMINATED,
    }
}
