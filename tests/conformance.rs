//! `conformance clients` for the built-in columns, without Docker: the whole grid (every
//! built-in profile × every case) runs once, concurrently, against the scripted broker of
//! `mosquitto_matrix::peer`, and each test checks one thing it must say:
//!
//! - every built-in cell equals the one measured and kept in conformance.toml;
//! - every built-in cell equals the kind the same judge gives the cell `tests/profiles.rs`
//!   decides for that profile and behaviour (the same session, at the profile tests' times);
//! - the lws 4.x case agrees with the full-hold matrix on bookworm (matrix.toml's debian row);
//! - the grid finishes within its 60 s budget, and its summary lines read as the issue asks.

#[allow(dead_code)] // run_cell, timing and UNIT only: the verdict checks are the profile tests'
mod support;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use mosquitto_matrix::conformance::case::{self, Case, CASES};
use mosquitto_matrix::conformance::expected::Expected;
use mosquitto_matrix::conformance::grid::{self, Grid, GridAsk};
use mosquitto_matrix::conformance::judge::{judge, Kind};
use mosquitto_matrix::peer::Behaviour;
use mosquitto_matrix::plan::{Column, MatrixFile, Outcome, Profile, Route};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The built-in grid, run once.
fn grid() -> &'static Grid {
    static GRID: OnceLock<Grid> = OnceLock::new();
    GRID.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime for the grid");
        let ask = GridAsk {
            columns: Profile::ALL.iter().map(|p| Column::Builtin(*p)).collect(),
            cases: CASES.iter().collect(),
            workdir: root().to_path_buf(),
            jobs: 1,
            mode: mosquitto_matrix::plan::ClientMode::Runtime,
        };
        let grid = runtime.block_on(grid::run(&ask));
        if std::env::var_os("SHOW_CELLS").is_some() {
            eprintln!("{}", mosquitto_matrix::report::conformance::text(&grid));
        }
        grid
    })
}

#[test]
fn every_built_in_cell_equals_the_one_measured_in_conformance_toml() {
    let expected = Expected::load(&root().join("conformance.toml")).expect("conformance.toml loads");
    let grid = grid();
    let mut missing = Vec::new();
    for cell in &grid.cells {
        if expected.columns.get(&cell.column).and_then(|c| c.get(cell.case)).is_none() {
            missing.push(format!("{} × {}", cell.column, cell.case));
        }
    }
    assert!(missing.is_empty(), "conformance.toml measures no kind for:\n{}", missing.join("\n"));
    let differ = expected.differences(grid);
    assert!(differ.is_empty(), "\n{}\n\n{}", differ.join("\n"), mosquitto_matrix::report::conformance::text(grid));
}

/// The behaviour `tests/profiles.rs` decides on that a case plays at conformance times.
fn profile_test_behaviour(case: &Case) -> Option<Behaviour> {
    Some(match case.id {
        "quiet" => Behaviour::NO_PINGS,
        "lws4-ping" => Behaviour::LWS4,
        "ping-payload-125" => Behaviour::PING_WITH_PAYLOAD,
        "text-frame" => Behaviour::TEXT_FRAME,
        "continuation" => Behaviour::CONTINUATION,
        "close-1000" => Behaviour::CLOSE_1000,
        "close-1001" => Behaviour::CLOSE_1001,
        "fin" => Behaviour::TCP_CLOSE,
        "rst" => Behaviour::TCP_RESET,
        "pingresp-stops" => Behaviour::STOP_PINGRESP,
        "no-subprotocol" => Behaviour::NO_SUBPROTOCOL,
        "upgrade-403" => Behaviour::REFUSE_UPGRADE_403,
        "upgrade-404" => Behaviour::REFUSE_UPGRADE_404,
        "connack-refused-v3" => Behaviour::REFUSE_CONNACK_5,
        // New in the conformance grid: no profile test decides on them.
        "unsolicited-pong" | "packets-in-one-frame" | "upgrade-401" | "connack-refused-v5" => return None,
        other => panic!("case {other} is neither mapped to a profile-test behaviour nor listed as new"),
    })
}

#[test]
fn every_built_in_cell_equals_what_the_profile_tests_decide_for_that_profile() {
    let grid = grid();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let mut pairs = Vec::new();
    for profile in Profile::ALL {
        for case in CASES.iter() {
            let Some(behaviour) = profile_test_behaviour(case) else { continue };
            if profile == Profile::Tcp && behaviour.websocket_only() {
                continue;
            }
            pairs.push((profile, case, behaviour));
        }
    }
    let cells = runtime.block_on(futures_util::future::join_all(
        pairs.iter().map(|(p, _, b)| support::run_cell(*p, *b, support::UNIT, support::timing(*p))),
    ));
    let mut wrong = Vec::new();
    for ((profile, case, _), cell) in pairs.iter().zip(cells) {
        let cell = cell.expect("the profile-test cell runs");
        let at_profile_times = judge(case, &cell.verdict, &cell.record, &cell.peer);
        let ours = grid.cell(profile.name(), case.id).expect("the grid has the cell");
        if ours.judged.kind != at_profile_times.kind {
            wrong.push(format!(
                "{profile} × {}: grid {} ({}), profile test {} ({})",
                case.id,
                ours.judged.kind.word(),
                ours.judged.did,
                at_profile_times.kind.word(),
                at_profile_times.did
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn the_lws4_case_agrees_with_the_full_hold_matrix_on_bookworm_for_every_websocket_built_in() {
    let file = MatrixFile::load(&root().join("matrix.toml")).expect("matrix.toml loads");
    let debian = file.set("debian").expect("the debian set");
    let grid = grid();
    let mut wrong = Vec::new();
    for profile in Profile::ALL.iter().filter(|p| **p != Profile::Tcp) {
        let column = Column::Builtin(*profile);
        let full_hold = debian.expectation("bookworm", &column, Route::Direct).expect("bookworm expects every built-in");
        let kind = grid.cell(profile.name(), "lws4-ping").expect("the lws4 cell").judged.kind;
        let held = matches!(kind, Kind::Ok | Kind::NonStrict);
        if held != (full_hold.outcome == Outcome::Ok) {
            wrong.push(format!("{profile}: conformance {} but bookworm's full hold expects {}", kind.word(), full_hold.outcome));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn paho_java_1_2_5_fails_the_ping_cases_and_its_summary_names_them() {
    let grid = grid();
    let line = grid.summary(Profile::PahoJava125.name());
    assert!(line.starts_with("paho-java-1.2.5 fails "), "{line}");
    for short in ["PING", "PING with payload", "text frame", "split PUBLISH"] {
        assert!(line.contains(short), "{line} lacks {short}");
    }
    let cell = grid.cell("paho-java-1.2.5", "lws4-ping").expect("the cell");
    assert_eq!(cell.judged.kind, Kind::Dropped, "{cell:?}");
    assert!(cell.judged.evidence.iter().any(|l| l.contains("client CLOSE (0x8)")), "the close frame is the evidence: {cell:?}");
}

#[test]
fn the_tcp_column_is_not_asked_websocket_cases() {
    let grid = grid();
    for case in CASES.iter().filter(|c| c.behaviour.websocket_only()) {
        assert_eq!(grid.cell("tcp", case.id).expect("the cell").judged.kind, Kind::NotApplicable, "{}", case.id);
    }
    assert_eq!(grid.cell("rumqttc", "connack-refused-v5").expect("the cell").judged.kind, Kind::NotApplicable);
}

#[test]
fn the_built_in_grid_finishes_within_its_sixty_second_budget() {
    let wall = grid().wall;
    eprintln!("built-in grid: {} cells in {:.1} s", grid().cells.len(), wall.as_secs_f64());
    assert!(wall < Duration::from_secs(60), "the grid took {wall:?}");
}

#[test]
fn every_case_id_is_found_by_its_name() {
    for c in CASES.iter() {
        assert_eq!(case::case(c.id).map(|k| k.id), Some(c.id));
    }
}

#[test]
fn the_books_page_per_case_is_written_from_the_measured_cells_of_conformance_toml() {
    let measured = Expected::load(&root().join("conformance.toml")).expect("conformance.toml loads");
    let file = MatrixFile::load(&root().join("matrix.toml")).expect("matrix.toml loads");
    let debian = file.set("debian").expect("the debian set");
    let eclipse = file.set("eclipse").expect("the eclipse set");
    let page = mosquitto_matrix::report::conformance_cases::chapter(&measured, "debian", &debian.tags, Some(("eclipse", &eclipse.tags)));
    let path = root().join("docs/src/conformance-cases.md");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &page).expect("write the page");
    }
    let book = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(book == page, "docs/src/conformance-cases.md is not what conformance.toml measures: regenerate with BLESS=1 cargo test --locked --test conformance");
    for case in CASES.iter() {
        assert!(page.contains(&format!("\n### `{}`\n", case.id)), "a section (and so an anchor) for {}", case.id);
    }
    assert!(page.contains("| `paho-java@1.2.5` | 🟥 DROPPED |"), "paho-java@1.2.5's measured PING drop is on the page");
    // The eclipse set's answers, derived and marked so: #1974 on 2.0.0–2.0.5, the libwebsockets
    // 4.x tags as the debian ones, the 2.1 images as sid; libwebsockets 2.4.2 not derived.
    assert!(page.contains("| 2.0.0 – 2.0.5 | `FIN` *(derived)* | 🟥 DROPPED | derived from: Mosquitto #1974"), "{page}");
    assert!(page.contains("| 2.0.11 – 2.0.22 | `PINGRESP` *(derived)* | 🟨 NON-STRICT | derived from: every measured tag with libwebsockets 4.x"));
    assert!(page.contains("| 2.1.0-alpine – 2.1.2-alpine | `close 1003` *(derived)* | 🟩 OK | derived from: every measured tag with Mosquitto's built-in WebSocket code answers so: debian/sid"));
    assert!(page.contains("| 1.6.9 – 1.6.14 | *not derived* | ⬜ n/a | not derived: no measured tag has libwebsockets 2.x |"));
}

#[test]
fn a_runtime_that_cannot_start_makes_its_columns_cells_error_with_its_words_said_once() {
    let mut client = mosquitto_matrix::plan::CommandClient::parse_ad_hoc("nowhere=/nonexistent/hold").expect("an ad-hoc client");
    client.runtime = Some(vec!["/nonexistent/runtime".to_string()]);
    let ask = GridAsk {
        columns: vec![Column::Builtin(Profile::Rfc6455), Column::Command(client)],
        cases: vec![case::case("quiet").expect("quiet"), case::case("lws4-ping").expect("lws4-ping")],
        workdir: root().to_path_buf(),
        jobs: 4,
        mode: mosquitto_matrix::plan::ClientMode::Runtime,
    };
    let grid = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime").block_on(grid::run(&ask));
    for id in ["quiet", "lws4-ping"] {
        let cell = grid.cell("nowhere", id).expect("the cell");
        assert_eq!(cell.judged.kind, Kind::Error, "{cell:?}");
        assert!(cell.judged.did.starts_with("not run: ") && cell.judged.did.contains("/nonexistent/runtime"), "{}", cell.judged.did);
        assert_eq!(grid.cell("rfc6455", id).map(|c| c.judged.kind), Some(Kind::Ok), "the built-in column runs as ever");
    }
    let text = mosquitto_matrix::report::conformance::text(&grid);
    assert_eq!(text.matches("/nonexistent/runtime").count(), 1, "said once: {text}");
    assert!(text.contains("nowhere × quiet, lws4-ping: ERROR: not run: "), "{text}");
}

#[test]
fn every_tag_of_the_debian_and_eclipse_sets_has_its_build_in_conformance_toml() {
    let measured = Expected::load(&root().join("conformance.toml")).expect("conformance.toml loads");
    let file = MatrixFile::load(&root().join("matrix.toml")).expect("matrix.toml loads");
    for name in ["debian", "eclipse"] {
        let set = file.set(name).expect("the set");
        let builds = measured.builds.get(name).expect("conformance.toml has [builds.SET]");
        let missing: Vec<&String> = set.tags.iter().filter(|t| !builds.contains_key(*t)).collect();
        let extra: Vec<&String> = builds.keys().filter(|t| !set.tags.contains(t)).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{name}: no build for {missing:?}; builds of no tag: {extra:?}");
    }
}

#[test]
fn conformance_brokers_derived_prints_the_eclipse_grid_marked_derived_without_running_anything() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mosquitto-matrix"))
        .args(["--config", &root().join("matrix.toml").display().to_string(), "conformance", "brokers"])
        .args(["--set", "eclipse", "--tags", "2.0.3,2.0.12", "--derived", "--format", "json"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("the command runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let (old, new) = (&doc["tags"][0], &doc["tags"][1]);
    assert_eq!((old["answers"]["split-connect"].as_str(), old["sources"]["split-connect"]["source"].as_str()), (Some("FIN"), Some("derived")));
    assert_eq!(old["sources"]["text-frame"]["source"], "not-derived");
    assert_eq!((new["answers"]["text-frame"].as_str(), new["sources"]["text-frame"]["source"].as_str()), (Some("PINGRESP"), Some("derived")));
    assert!(new["summary"].as_str().unwrap_or_default().ends_with("(13 derived, not measured)"), "{new}");
}

#[test]
fn the_command_writes_markdown_json_and_html_into_out_and_the_release_changes_file() {
    let dir = std::env::temp_dir().join(format!("conformance-out-{}", std::process::id()));
    let changes = dir.join("release-changes.md");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mosquitto-matrix"))
        .args(["--config", &root().join("matrix.toml").display().to_string(), "conformance", "clients"])
        .args(["--columns", "rfc6455,no-pong", "--cases", "quiet,lws4-ping", "--format", "html", "--out"])
        .arg(&dir)
        .arg("--release-changes")
        .arg(&changes)
        .output()
        .expect("the command runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("<!DOCTYPE html>") && stdout.contains("no-pong fails 1 of 2 cases: PING"), "{stdout}");
    for name in ["conformance-clients.md", "conformance-clients.json", "conformance-clients.html"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(text.contains("no-pong"), "{name} holds the grid: {text}");
    }
    let md = std::fs::read_to_string(dir.join("conformance-clients.md")).unwrap_or_default();
    assert!(md.contains("[🟥 DROPPED](#e-1-1)") && md.contains("<a id=\"e-1-1\"></a>"), "a not-OK cell links to its evidence: {md}");
    let release = std::fs::read_to_string(&changes).unwrap_or_default();
    assert!(release.contains("No release column"), "built-in columns have no releases: {release}");
    let _ = std::fs::remove_dir_all(&dir);
}
