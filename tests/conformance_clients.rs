//! `conformance clients` for the real clients that `bash clients/setup.sh` installs: each
//! asserted column must be installed (a missing one fails, naming its set-up; nothing passes by
//! skipping). Runs only by name: `cargo test --locked --test conformance_clients`; matrix.toml
//! is `MATRIX_CONFIG` when set (its folder is where the installed clients are), else the
//! repository's. conformance.toml is always the repository's.
//!
//! - paho-java@1.2.5 drops on the PING case, in its own words `(32109)`;
//! - paho-python 2.x and MQTT.js answer the PING;
//! - for every installed real client, the lws 4.x case agrees with the full-hold matrix on
//!   bookworm (matrix.toml's debian row, the measured full-hold answers);
//! - every installed real client's cells equal the ones measured in conformance.toml;
//! - the whole default grid (built-ins and installed clients, runtime mode) takes at most the
//!   issue's 60 s, and leaves no runtime or client process behind;
//! - process mode (a process per cell, `--client-mode process`) gives the same kind as runtime
//!   mode in every cell of matrix.toml's default columns that have a runtime (every other
//!   version's runtime cells equal conformance.toml, which process mode measured); a cell that
//!   differs is played once more alone, since a busy machine can keep 16 JVMs from connecting.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use mosquitto_matrix::conformance::case::CASES;
use mosquitto_matrix::conformance::expected::Expected;
use mosquitto_matrix::conformance::grid::{self, Grid, GridAsk, GridCell};
use mosquitto_matrix::conformance::judge::Kind;
use mosquitto_matrix::conformance::default_columns;
use mosquitto_matrix::plan::{ClientMode, Column, MatrixFile, Outcome, Route};
use mosquitto_matrix::probe;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn file() -> &'static MatrixFile {
    static FILE: OnceLock<MatrixFile> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = mosquitto_matrix::plan::config_path(|k| std::env::var(k).ok(), &root().join("matrix.toml"));
        MatrixFile::load(&path).expect("matrix.toml loads")
    })
}

/// The default grid, as `conformance clients` runs it (runtime mode), once; and the processes
/// of ours still alive right after it (none may be: every runtime and client has ended).
fn grid_and_left() -> &'static (Grid, Vec<String>) {
    static GRID: OnceLock<(Grid, Vec<String>)> = OnceLock::new();
    GRID.get_or_init(|| {
        let from = probe::ask::FromFile::of(Some(file()));
        let (columns, left_out) = default_columns(&from.clients, |c| probe::installed(c, &from.workdir));
        for why in left_out {
            eprintln!("left out: {why}");
        }
        let grid = run(columns, ClientMode::Runtime);
        eprintln!("{}", mosquitto_matrix::report::conformance::text(&grid));
        (grid, our_children())
    })
}

fn grid() -> &'static Grid {
    &grid_and_left().0
}

fn run(columns: Vec<Column>, mode: ClientMode) -> Grid {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let workdir = probe::ask::FromFile::of(Some(file())).workdir;
    let ask = GridAsk { columns, cases: CASES.iter().collect(), workdir, jobs: grid::default_jobs(mode), mode };
    runtime.block_on(grid::run(&ask))
}

/// The processes whose parent is this one, as `pid comm` (a finished grid leaves none).
fn our_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc lists").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: the comm may hold spaces, so read after its last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        if rest.split_whitespace().nth(1) == Some(me.as_str()) {
            out.push(head.replace('(', ""));
        }
    }
    out
}

/// In process mode, the grid's columns that are matrix.toml's default columns (`profiles`) and
/// have a runtime: run after the default grid, never beside it.
fn process_grid() -> &'static Grid {
    static GRID: OnceLock<Grid> = OnceLock::new();
    GRID.get_or_init(|| {
        let columns: Vec<Column> = grid()
            .columns
            .iter()
            .filter_map(|name| file().columns.iter().find(|c| c.name() == name))
            .filter(|c| matches!(c, Column::Command(k) if k.runtime.is_some()))
            .cloned()
            .collect();
        let names: Vec<&str> = columns.iter().map(Column::name).collect();
        eprintln!("process mode: {}", names.join(", "));
        let grid = run(columns, ClientMode::Process);
        eprintln!("process mode: {} cells in {:.1} s", grid.cells.len(), grid.wall.as_secs_f64());
        grid
    })
}

fn installed_column(name: &str) -> &'static str {
    let grid = grid();
    match grid.columns.iter().find(|c| c.as_str() == name) {
        Some(c) => c,
        None => panic!("{name} is not installed: run `bash clients/setup.sh` first"),
    }
}

#[test]
fn paho_java_1_2_5_drops_on_the_ping_case_with_32109() {
    let column = installed_column("paho-java@1.2.5");
    let cell = grid().cell(column, "lws4-ping").expect("the cell");
    assert_eq!(cell.judged.kind, Kind::Dropped, "{cell:?}");
    assert!(cell.judged.did.contains("(32109)"), "the client's own words name 32109: {}", cell.judged.did);
}

#[test]
fn paho_python_2_and_mqttjs_answer_the_ping() {
    let grid = grid();
    let mut asked: Vec<&str> = grid.columns.iter().filter(|c| c.starts_with("paho-python@2.")).map(String::as_str).collect();
    assert!(!asked.is_empty(), "no paho-python 2.x is installed: run `bash clients/setup.sh paho-python`");
    asked.extend(grid.columns.iter().filter(|c| *c == "mqttjs" || c.starts_with("mqttjs@")).map(String::as_str));
    assert!(asked.iter().any(|c| c.starts_with("mqttjs")), "MQTT.js is not installed: run `bash clients/setup.sh mqttjs`");
    for column in asked {
        let cell = grid.cell(column, "lws4-ping").expect("the cell");
        // Answered: a PONG echoing the PING; paho-python's is unmasked (NON-STRICT), still an answer.
        assert!(matches!(cell.judged.kind, Kind::Ok | Kind::NonStrict), "{column}: {cell:?}");
        assert!(!cell.judged.did.contains("unanswered"), "{column}: {}", cell.judged.did);
    }
}

#[test]
fn the_lws4_case_agrees_with_the_full_hold_matrix_on_bookworm_for_every_installed_client() {
    let debian = file().set("debian").expect("the debian set");
    let grid = grid();
    let mut wrong = Vec::new();
    for client in file().clients.iter().filter(|c| grid.columns.contains(&c.name)) {
        let Some(full_hold) = debian.expectation("bookworm", &Column::Command(client.clone()), Route::Direct) else {
            wrong.push(format!("{}: bookworm's row expects nothing for it", client.name));
            continue;
        };
        let kind = grid.cell(&client.name, "lws4-ping").expect("the cell").judged.kind;
        if matches!(kind, Kind::Ok | Kind::NonStrict) != (full_hold.outcome == Outcome::Ok) {
            wrong.push(format!("{}: conformance {} but bookworm's full hold expects {}", client.name, kind.word(), full_hold.outcome));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn every_installed_client_cell_equals_the_one_measured_in_conformance_toml() {
    let expected = Expected::load(&root().join("conformance.toml")).expect("conformance.toml loads");
    let differ = expected.differences(grid());
    assert!(differ.is_empty(), "\n{}", differ.join("\n"));
}

/// The budget: the default grid (30 columns × 18 cases here, runtime mode) within 60 s.
/// Measured on this 2-core machine (7 December 2026, `conformance clients`, other engineers'
/// work beside it at times): 13.6–17.9 s over nine runs, 13.8 s at load 2.4 (idle but for it),
/// 7.7–10.8 s of CPU; in process mode 61.3 s at load 2.3 (74 s of CPU) and 91.5–99.8 s while
/// others built. 60 s is four times the runtime figure: a wide margin for a busy machine, which
/// no test may depend on being idle.
#[test]
fn the_default_grid_takes_at_most_sixty_seconds() {
    let grid = grid();
    eprintln!("default grid: {} columns, {} cells in {:.1} s", grid.columns.len(), grid.cells.len(), grid.wall.as_secs_f64());
    assert!(grid.wall <= Duration::from_secs(60), "the grid took {:?}", grid.wall);
}

#[test]
fn no_runtime_or_client_process_outlives_the_grid() {
    let left = &grid_and_left().1;
    assert!(left.is_empty(), "still running after the grid: {left:?}");
}

/// At most this many cells whose kind differs between the modes are played again: more is no
/// busy machine's doing.
const REPLAYED_AT_MOST: usize = 12;

/// The process-mode cells whose kind differs from the runtime grid's.
fn differing<'a>(runtime: &Grid, process: &'a Grid) -> Vec<&'a GridCell> {
    process.cells.iter().filter(|c| runtime.cell(&c.column, c.case).map(|o| o.judged.kind) != Some(c.judged.kind)).collect()
}

#[test]
fn process_mode_gives_every_default_runtime_columns_cell_the_same_kind_as_runtime_mode() {
    let (runtime, process) = (grid(), process_grid());
    assert!(process.columns.iter().any(|c| c.starts_with("paho-java@")), "no Paho Java column ran in process mode: {:?}", process.columns);
    // A cell that differs is played once more in process mode, alone: on a busy machine 16 JVMs
    // starting at once may not connect within the set-up bound (measured at load 48: three
    // paho-java-v5 cells), which is the machine's doing, not the mode's.
    let first = differing(runtime, process);
    assert!(first.len() <= REPLAYED_AT_MOST, "{} cells differ between the modes:\n{}", first.len(), describe(runtime, &first));
    let mut differ = Vec::new();
    for cell in first {
        let column = process_grid_column(&cell.column);
        let case = CASES.iter().find(|c| c.id == cell.case).expect("a case");
        let again = run_alone(column, case);
        eprintln!("played again: {} × {}: {}", cell.column, cell.case, again.judged.kind.word());
        if runtime.cell(&cell.column, cell.case).map(|o| o.judged.kind) != Some(again.judged.kind) {
            differ.push(again);
        }
    }
    let differ: Vec<&GridCell> = differ.iter().collect();
    assert!(differ.is_empty(), "\n{}", describe(runtime, &differ));
}

/// Each process cell beside its runtime twin, in words.
fn describe(runtime: &Grid, cells: &[&GridCell]) -> String {
    let line = |c: &GridCell| {
        let other = runtime.cell(&c.column, c.case).map(|o| format!("{} ({})", o.judged.kind.word(), o.judged.did)).unwrap_or_default();
        format!("{} × {}: process {} ({}), runtime {other}", c.column, c.case, c.judged.kind.word(), c.judged.did)
    };
    cells.iter().map(|c| line(c)).collect::<Vec<_>>().join("\n")
}

/// The matrix.toml column a process-mode column name stands for.
fn process_grid_column(name: &str) -> Column {
    file().columns.iter().find(|c| c.name() == name).cloned().expect("a default column")
}

/// One cell of `column` × `case` in process mode, nothing else running beside it.
fn run_alone(column: Column, case: &'static mosquitto_matrix::conformance::case::Case) -> GridCell {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let workdir = probe::ask::FromFile::of(Some(file())).workdir;
    let ask = GridAsk { columns: vec![column], cases: vec![case], workdir, jobs: 1, mode: ClientMode::Process };
    runtime.block_on(grid::run(&ask)).cells.remove(0)
}
