//! `mosquitto-matrix conformance clients`: every client column against the scripted broker,
//! one behaviour per case, in seconds; the grid on stdout (table, Markdown, JSON or HTML, and
//! all but the table into `--out`), the differences from the measured cells of
//! `conformance.toml` (when there is one) on stderr, and with `--release-changes` each client's
//! newest release against its previous one. `conformance brokers`: the broker grid of a set,
//! each answer held against the one measured before or derived (`conformance.toml`), or with
//! `--derived` the grid those expect, without running anything.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use mosquitto_matrix::conformance::brokers;
use mosquitto_matrix::conformance::derive;
use mosquitto_matrix::conformance::source::Source;
use mosquitto_matrix::conformance::case::CASES;
use mosquitto_matrix::conformance::expected::Expected;
use mosquitto_matrix::conformance::releases;
use mosquitto_matrix::conformance::grid::{self, GridAsk};
use mosquitto_matrix::conformance::{default_columns, named_cases, named_columns};
use mosquitto_matrix::plan::{ClientMode, MatrixFile};
use mosquitto_matrix::probe;
use mosquitto_matrix::report::{self, exit};

use crate::cli::output::say;
use crate::cli::Error;

/// The conformance grids.
#[derive(clap::Args)]
pub struct Args {
    /// Which grid.
    #[command(subcommand)]
    pub grid: Grid,
}

/// The grids.
#[derive(Subcommand)]
pub enum Grid {
    /// Every client column (the built-in profiles and the installed real clients) against a scripted broker, one
    /// behaviour per case, in seconds. Exit 0 when every cell equals conformance.toml's measured one (or there is none
    /// to compare), 1 when some differ. Example: mosquitto-matrix conformance clients --columns rfc6455,paho-java@1.2.5
    Clients(ClientsArgs),
    /// Scripted WebSocket clients against each broker tag of a set (Docker): a text frame, a split CONNECT, a PING
    /// with a payload, a reserved opcode, an unmasked frame, a control frame over 125 bytes, the close handshake,
    /// subprotocols; each cell the broker's answer in a few words. Exit 0 when every answer equals conformance.toml's
    /// measured one (or there is none to compare), 1 when some differ. Example: mosquitto-matrix conformance brokers --set debian
    Brokers(BrokersArgs),
}

/// `conformance brokers`.
#[derive(clap::Args)]
pub struct BrokersArgs {
    /// The set (default: matrix.toml's default set). Example: --set debian
    #[arg(long)]
    pub set: Option<String>,
    /// Comma-separated tags of the set (default: all). Example: --tags bookworm,sid
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    /// How to print the grid. Example: --format json
    #[arg(long, value_enum, default_value = "table")]
    pub format: GridFormat,
    /// Also write the grid to this folder as conformance-brokers-SET.md, .json and .html. Example: --out report
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run nothing (no Docker): print the grid conformance.toml expects, each tag's measured answers, else the
    /// ones derived from the measured tags and the tag's WebSocket code ([builds.SET]), marked as derived, each
    /// with its basis. Example: conformance brokers --set eclipse --derived
    #[arg(long)]
    pub derived: bool,
}

/// How the grid is printed.
#[derive(Clone, Copy, ValueEnum)]
pub enum GridFormat {
    /// Cases × columns, the summary lines, and the evidence of every cell that is not OK.
    Table,
    /// A Markdown table and the summary lines.
    Markdown,
    /// Every cell with its words and frames.
    Json,
    /// One self-contained page: the grid coloured, each cell a link to its wire evidence.
    Html,
}

/// `conformance clients`.
#[derive(clap::Args)]
pub struct ClientsArgs {
    /// Comma-separated columns (default: every built-in profile and every installed real client). Example: --columns rfc6455,paho-java@1.2.5
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Comma-separated case ids (default: all). Example: --cases lws4-ping,text-frame
    #[arg(long, value_delimiter = ',')]
    pub cases: Option<Vec<String>>,
    /// How many real-client cells run at once (default: 64 in runtime mode, 16 in process mode). Example: --jobs 4
    #[arg(long)]
    pub jobs: Option<usize>,
    /// How the real clients start: `runtime`, one process per client version for the whole grid, each cell a
    /// connection to it (columns with `runtime = [...]`), or `process`, one process per cell (else
    /// MATRIX_CLIENT_MODE; default runtime). Example: --client-mode process
    #[arg(long, value_name = "MODE")]
    pub client_mode: Option<String>,
    /// How to print the grid. Example: --format json
    #[arg(long, value_enum, default_value = "table")]
    pub format: GridFormat,
    /// The measured cells to compare with (default: conformance.toml beside matrix.toml, when it exists). Example: --expected conformance.toml
    #[arg(long)]
    pub expected: Option<PathBuf>,
    /// Write the grid's kinds to this file as the new measured cells. Example: --write-expected conformance.toml
    #[arg(long)]
    pub write_expected: Option<PathBuf>,
    /// Also write the grid to this folder as conformance-clients.md, .json and .html. Example: --out report
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write, as Markdown, each client's newest release in the grid against its previous release (from the grid, or
    /// as conformance.toml measured it): which cases changed. Example: --release-changes release-changes.md
    #[arg(long)]
    pub release_changes: Option<PathBuf>,
}

/// Writes `name.md`, `name.json` and `name.html` into `dir`, made if missing.
fn write_out(dir: &Path, name: &str, md: &str, json: &str, html: &str) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::File { path: dir.to_path_buf(), what: e.to_string() })?;
    for (ext, text) in [("md", md), ("json", json), ("html", html)] {
        let path = dir.join(format!("{name}.{ext}"));
        std::fs::write(&path, text).map_err(|e| Error::File { path: path.clone(), what: e.to_string() })?;
        eprintln!("written: {}", path.display());
    }
    Ok(())
}

/// Runs a conformance grid.
pub async fn exec(config: &Path, a: Args) -> Result<u8, Error> {
    match a.grid {
        Grid::Clients(c) => clients(config, c).await,
        Grid::Brokers(b) => brokers(config, b).await,
    }
}

async fn brokers(config: &Path, a: BrokersArgs) -> Result<u8, Error> {
    let file = MatrixFile::load(config)?;
    let set = crate::cli::pick_set(&file, a.set.as_deref(), "--set")?;
    let tags: Vec<String> = match &a.tags {
        Some(t) => {
            if let Some(bad) = t.iter().find(|t| !set.tags.contains(t)) {
                return Err(Error::Argument { name: "--tags".into(), what: format!("set {} has no tag {bad}", set.name) });
            }
            t.clone()
        }
        None => set.tags.clone(),
    };
    // The answers measured before and the tags' builds, kept beside matrix.toml.
    let beside = config.parent().unwrap_or(Path::new(".")).join("conformance.toml");
    let expected = if beside.is_file() { Expected::load(&beside)? } else { Expected::default() };
    let rows = if a.derived {
        eprintln!("conformance: {} tag(s) of {} as conformance.toml measures or derives them (nothing run)", tags.len(), set.name);
        derive::derived_rows(&expected, &set.name, &tags)
    } else {
        let run_id = mosquitto_matrix::engine::labels::new_run_id();
        eprintln!("conformance: {} tag(s) of {} × {} broker case(s)", tags.len(), set.name, brokers::BROKER_CASES.len());
        let rows = futures_util::future::join_all(tags.iter().map(|t| brokers::run_tag(&set.image, t, &file.broker, &run_id))).await;
        derive::checked(&expected, &set.name, rows)
    };
    print_brokers(&set.name, &rows, a.format, a.out.as_deref())?;
    if a.derived {
        return Ok(exit::MET);
    }
    // Each answer that differs from the one measured before, or from the one derived for it: on stderr, exit 1.
    let mut differences = expected.broker_differences(&set.name, &rows);
    differences.extend(not_held(&set.name, &rows));
    for d in &differences {
        eprintln!("differs: {d}");
    }
    Ok(if differences.is_empty() { exit::MET } else { exit::CHANGED })
}

/// Each measured answer that the answer derived for it did not hold to, in words.
fn not_held(set: &str, rows: &[brokers::TagRow]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        for (i, (case, got)) in r.cells.iter().enumerate() {
            if let Source::NotHeld { derived, basis } = r.source(i) {
                out.push(format!("{set}/{} × {case}: {got:?} (derived: {derived:?}, from: {basis})", r.tag));
            }
        }
    }
    out
}

/// Prints the broker grid in `format`, and writes it into `out` when asked.
fn print_brokers(set: &str, rows: &[brokers::TagRow], format: GridFormat, out: Option<&Path>) -> Result<(), Error> {
    let (md, json, html) = (
        report::conformance::brokers_markdown(rows),
        report::conformance::brokers_json(set, rows) + "\n",
        report::conformance_html::brokers_html(set, rows),
    );
    if let Some(dir) = out {
        write_out(dir, &format!("conformance-brokers-{set}"), &md, &json, &html)?;
    }
    say(&match format {
        GridFormat::Json => json,
        GridFormat::Markdown => md,
        GridFormat::Html => html,
        GridFormat::Table => report::conformance::brokers_text(rows),
    })
}

/// `--client-mode`, else `MATRIX_CLIENT_MODE` (empty counts as unset), else runtime.
fn client_mode(flag: Option<&str>) -> Result<ClientMode, Error> {
    let var = std::env::var("MATRIX_CLIENT_MODE").ok().filter(|v| !v.trim().is_empty());
    let (name, given) = match (flag, var) {
        (Some(f), _) => ("--client-mode", f.to_string()),
        (None, Some(v)) => ("MATRIX_CLIENT_MODE", v),
        (None, None) => return Ok(ClientMode::default()),
    };
    ClientMode::parse(&given).map_err(|what| Error::Argument { name: name.into(), what })
}

async fn clients(config: &Path, a: ClientsArgs) -> Result<u8, Error> {
    let file = MatrixFile::load(config)?;
    let from = probe::ask::FromFile::of(Some(&file));
    let workdir = from.workdir.clone();
    let columns = match &a.columns {
        Some(names) => named_columns(names, &from.clients, &workdir)?,
        None => {
            let (columns, left_out) = default_columns(&from.clients, |c| probe::installed(c, &workdir));
            for why in left_out {
                eprintln!("left out: {why}");
            }
            columns
        }
    };
    let cases = match &a.cases {
        Some(ids) => named_cases(ids)?,
        None => CASES.iter().collect(),
    };
    let expected_path = a.expected.clone().or_else(|| {
        let beside = workdir.join("conformance.toml");
        beside.is_file().then_some(beside)
    });
    let expected = expected_path.as_deref().map(Expected::load).transpose()?;
    let mode = client_mode(a.client_mode.as_deref())?;
    let jobs = a.jobs.unwrap_or(grid::default_jobs(mode));
    eprintln!("conformance: {} column(s) × {} case(s) against the scripted broker ({} mode)", columns.len(), cases.len(), mode.name());
    let grid = grid::run(&GridAsk { columns, cases, workdir, jobs, mode }).await;
    if let Some(dir) = &a.out {
        let (md, json, html) = (report::conformance::markdown(&grid), report::conformance::json(&grid) + "\n", report::conformance_html::clients_html(&grid));
        write_out(dir, "conformance-clients", &md, &json, &html)?;
    }
    if let Some(path) = &a.release_changes {
        let changes = releases::newest_releases(&grid, expected.as_ref());
        std::fs::write(path, releases::markdown(&changes)).map_err(|e| Error::File { path: path.clone(), what: e.to_string() })?;
        eprintln!("written: {}", path.display());
    }
    say(&match a.format {
        GridFormat::Table => report::conformance::text(&grid),
        GridFormat::Markdown => report::conformance::markdown(&grid),
        GridFormat::Json => report::conformance::json(&grid) + "\n",
        GridFormat::Html => report::conformance_html::clients_html(&grid),
    })?;
    if let Some(path) = &a.write_expected {
        std::fs::write(path, Expected::render(&grid, expected.as_ref())).map_err(|e| Error::File { path: path.clone(), what: e.to_string() })?;
        eprintln!("written: {}", path.display());
    }
    let differences = expected.map(|e| e.differences(&grid)).unwrap_or_default();
    for d in &differences {
        eprintln!("differs: {d}");
    }
    Ok(if differences.is_empty() { exit::MET } else { exit::CHANGED })
}
