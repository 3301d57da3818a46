//! The HTML report in a real browser: headless Chromium (Debian's, as `bash clients/setup.sh`
//! installs it) through playwright-core opens the page of a real debian run and of the
//! synthetic 33-tag eclipse run, clicks failing cells, reads their drawn timelines from the
//! DOM, tries the filters and takes screenshots, and every request the page makes is recorded.
//!
//! Only by name (`cargo test --test browser_report`): it needs Node.js and Chromium. CI also
//! opens the page of its own fresh debian run with the same script (scripts/test-all.sh).
//! Screenshots go to `target/report-shots/`; `docs/src/images/` keeps the two the README and the book show.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use mosquitto_matrix::judge::results::{RunResult, Status};
use mosquitto_matrix::report::html::html;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn page_of(result: &str, edit: impl Fn(&mut RunResult)) -> Result<PathBuf> {
    let text = std::fs::read_to_string(root().join("tests/data").join(result)).context(result.to_string())?;
    let mut r: RunResult = serde_json::from_str(&text).context(result.to_string())?;
    edit(&mut r);
    let dir = root().join("target/report-shots");
    std::fs::create_dir_all(&dir)?;
    let page = dir.join(result.replace(".json", ".html"));
    std::fs::write(&page, html(&r))?;
    Ok(page)
}

/// Runs a browser script (`tests/browser/NAME`) on a page and returns what it saw, once it
/// has checked what every page must hold: nothing fetched, no script error, sticky heads, a
/// screenshot.
fn run_script(script: &str, page: &Path, shot: &str, args: &[&str]) -> Result<Value> {
    let shot = root().join("target/report-shots").join(shot);
    let out = Command::new("node")
        .arg(root().join("tests/browser").join(script))
        .arg(page)
        .arg(&shot)
        .args(args)
        .output()
        .context("node (bash clients/setup.sh installs Node.js, Chromium and playwright-core)")?;
    if !out.status.success() {
        bail!("the browser script failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let seen: Value = serde_json::from_slice(&out.stdout).context("the browser script's JSON")?;
    assert_eq!(seen["fetched"], serde_json::json!([]), "the page fetched something: {}", seen["fetched"]);
    assert_eq!(seen["errors"], serde_json::json!([]), "the page's script failed: {}", seen["errors"]);
    assert_eq!(seen["headSticky"], "sticky", "the grid's heads are sticky");
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "a screenshot at {}", shot.display());
    Ok(seen)
}

/// Runs the report's browser script on a page and returns what it saw.
fn browse(page: &Path, shot: &str, cells: &[&str]) -> Result<Value> {
    run_script("report.mjs", page, shot, cells)
}

fn events(cell: &Value) -> Vec<(String, String, f64, String)> {
    cell["events"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| {
                    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                    (s("kind"), s("from"), e["at"].as_f64().unwrap_or(f64::NAN), s("label"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_debian_report_draws_a_failing_cells_ping_and_end_and_a_real_clients_wire_in_chromium_fetching_nothing() -> Result<()> {
    let page = page_of("debian.json", |_| {})?;
    let seen = browse(&page, "debian.png", &["bookworm/no-pong", "bookworm/paho-python@2.1.0", "bookworm/paho-java-1.2.5"])?;
    let cells = seen["cells"].as_array().context("cells")?;
    // no-pong: the broker's PING at 300 s, then its FIN 10 s later, drawn on the broker's lane.
    let no_pong = events(&cells[0]);
    let ping = no_pong.iter().find(|e| e.0 == "ping").context("a PING row")?;
    assert_eq!(ping.1, "broker");
    assert!((ping.2 - 300.0).abs() < 1.0, "{no_pong:?}");
    let fin = no_pong.last().context("an end")?;
    assert_eq!((fin.0.as_str(), fin.1.as_str()), ("fin", "broker"), "{no_pong:?}");
    assert!((fin.2 - 310.0).abs() < 1.0, "{no_pong:?}");
    assert!(cells[0]["expected"].as_str().unwrap_or_default().starts_with("EOF@310"), "{}", cells[0]["expected"]);
    assert!(cells[0]["cause"].as_str().unwrap_or_default().contains("after an unanswered PING"), "{}", cells[0]["cause"]);
    assert_ne!(cells[0]["colour"], cells[1]["colour"], "an EOF cell and an OK cell are coloured apart");
    // Paho Python through the recording proxy: the upgrade, CONNECT, CONNACK, the PING and its PONG.
    let python = events(&cells[1]);
    let kinds: Vec<&str> = python.iter().map(|e| e.0.as_str()).collect();
    for k in ["upgrade", "connect", "connack", "pingreq", "pingresp", "ping", "pong"] {
        assert!(kinds.contains(&k), "{k} is drawn: {kinds:?}");
    }
    let pong = python.iter().find(|e| e.0 == "pong").context("a PONG")?;
    assert_eq!(pong.1, "client");
    assert!(pong.3.contains("unmasked"), "Paho Python's PONG is unmasked: {}", pong.3);
    let times: Vec<&str> = cells.iter().flat_map(|c| c["times"].as_array().into_iter().flatten().filter_map(Value::as_str)).collect();
    assert!(!times.iter().any(|t| t.starts_with("-0.0")), "{times:?}");
    // Filters: EOF only shows the 3 × 5 failing cells of bullseye–trixie (four built-in columns and
    // the real Paho Java 1.2.5); a column shows its own head only.
    let eof = seen["filters"]["eof"].as_array().context("eof")?;
    assert_eq!(eof.len(), 15, "{eof:?}");
    assert_eq!(seen["filters"]["shownHeads"], serde_json::json!([seen["filters"]["firstColumn"]]));
    Ok(())
}

#[test]
fn the_eclipse_report_draws_mqttjss_connect_in_13_frames_and_the_brokers_fin_before_connack() -> Result<()> {
    // One cell made to differ from its expectation, for the "differs from expectation" filter.
    let page = page_of("eclipse-synthetic.json", |r| {
        if let Some(c) = r.cells.iter_mut().find(|c| c.id() == "1.6.15/paho-java-1.2.5") {
            c.expected = Some("OK".into());
            c.status = Status::Changed;
        }
    })?;
    let seen = browse(&page, "eclipse.png", &["2.0.5/mqttjs@5.16.0"])?;
    let cell = &seen["cells"][0];
    let drawn = events(cell);
    let kinds: Vec<&str> = drawn.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(kinds, ["upgrade", "upgrade", "connect", "fin", "fin"], "{drawn:?}");
    assert!(drawn[2].3.ends_with("in 13 WebSocket frames"), "{}", drawn[2].3);
    assert_eq!(drawn[3].1, "broker", "the broker ends it first");
    assert!(cell["cause"].as_str().unwrap_or_default().contains("before any CONNACK"), "{}", cell["cause"]);
    assert_eq!(cell["expected"], "EOF@0", "matrix.toml expects #1974's end");
    assert_eq!(cell["outcome"], "EOF before CONNACK");
    let changed = seen["filters"]["changed"].as_array().context("changed")?;
    let ids: Vec<&str> = changed.iter().filter_map(Value::as_str).collect();
    assert_eq!(ids, ["1.6.15/paho-java-1.2.5"], "only the cell that differs is shown");
    Ok(())
}

/// Runs the conformance page script on a page and returns what it saw.
fn browse_conformance(page: &Path, shot: &str, cells: &[&str]) -> Result<Value> {
    let seen = run_script("conformance.mjs", page, shot, cells)?;
    // One colour per kind, and the kinds apart.
    let colours = seen["colours"].as_object().context("colours")?;
    let mut all = Vec::new();
    for (kind, c) in colours {
        let c = c.as_array().context("a kind's colours")?;
        assert_eq!(c.len(), 1, "every {kind} cell has the same colour: {c:?}");
        all.push(c[0].as_str().unwrap_or_default().to_string());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "each kind its own colour: {colours:?}");
    Ok(seen)
}

#[test]
fn the_client_conformance_page_colours_each_kind_and_each_cell_opens_its_wire_evidence_fetching_nothing() -> Result<()> {
    use mosquitto_matrix::conformance::case::CASES;
    use mosquitto_matrix::conformance::grid::{self, GridAsk};
    use mosquitto_matrix::plan::{Column, Profile};
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let ask = GridAsk { columns: Profile::ALL.iter().map(|p| Column::Builtin(*p)).collect(), cases: CASES.iter().collect(), workdir: root().to_path_buf(), jobs: 1, mode: mosquitto_matrix::plan::ClientMode::Runtime };
    let g = runtime.block_on(grid::run(&ask));
    let dir = root().join("target/report-shots");
    std::fs::create_dir_all(&dir)?;
    let page = dir.join("conformance-clients.html");
    std::fs::write(&page, mosquitto_matrix::report::conformance_html::clients_html(&g))?;
    let seen = browse_conformance(&page, "conformance-clients.png", &["no-pong/lws4-ping", "rfc6455/lws4-ping", "tcp/text-frame"])?;
    let kinds: Vec<&str> = seen["colours"].as_object().context("colours")?.keys().map(String::as_str).collect();
    for k in ["OK", "NON-STRICT", "DROPPED", "n/a"] {
        assert!(kinds.contains(&k), "the built-in grid shows {k}: {kinds:?}");
    }
    let no_pong = &seen["cells"][0];
    assert_eq!(no_pong["kind"], "DROPPED");
    assert_eq!((no_pong["visible"].as_bool(), no_pong["targeted"].as_bool()), (Some(true), Some(true)), "{no_pong}");
    assert_eq!(no_pong["title"], "no-pong × lws4-ping: DROPPED");
    let wire = no_pong["evidence"].as_str().unwrap_or_default();
    assert!(wire.contains("broker PING, 0 bytes") && wire.contains("verdict: EOF"), "the evidence is the wire: {wire}");
    let rfc = &seen["cells"][1];
    assert_eq!(rfc["kind"], "OK");
    assert!(rfc["did"].as_str().unwrap_or_default().starts_with("answered with a masked PONG"), "{rfc}");
    assert_eq!(seen["cells"][2]["kind"], "n/a");
    let summary: Vec<&str> = seen["summary"].as_array().context("summary")?.iter().filter_map(Value::as_str).collect();
    assert!(summary.contains(&"no-pong fails 2 of 18 cases: PING, PING with payload"), "{summary:?}");
    Ok(())
}

#[test]
fn the_broker_conformance_page_of_the_measured_debian_set_colours_each_answer_and_opens_it() -> Result<()> {
    use mosquitto_matrix::conformance::brokers::{TagRow, BROKER_CASES};
    use mosquitto_matrix::conformance::expected::Expected;
    let measured = Expected::load(&root().join("conformance.toml"))?;
    let debian = measured.brokers.get("debian").context("conformance.toml measures the debian set")?;
    let rows: Vec<TagRow> = ["bullseye", "bookworm", "trixie", "sid"]
        .iter()
        .map(|tag| TagRow {
            tag: (*tag).to_string(),
            cells: BROKER_CASES.iter().filter_map(|c| debian.get(*tag).and_then(|t| t.get(c.id)).map(|w| (c.id, w.clone()))).collect(),
            sources: Vec::new(),
        })
        .collect();
    let dir = root().join("target/report-shots");
    std::fs::create_dir_all(&dir)?;
    let page = dir.join("conformance-brokers.html");
    std::fs::write(&page, mosquitto_matrix::report::conformance_html::brokers_html("debian", &rows))?;
    let seen = browse_conformance(&page, "conformance-brokers.png", &["bookworm/text-frame", "sid/text-frame"])?;
    let (bookworm, sid) = (&seen["cells"][0], &seen["cells"][1]);
    assert_eq!((bookworm["kind"].as_str(), sid["kind"].as_str()), (Some("NON-STRICT"), Some("OK")), "{bookworm} {sid}");
    assert!(bookworm["evidence"].as_str().unwrap_or_default().contains("answer: PINGRESP"), "{bookworm}");
    assert_eq!(sid["targeted"], true);
    Ok(())
}
