//! The history site in a real browser: headless Chromium (Debian's, as `bash clients/setup.sh`
//! installs it) through playwright-core opens the site of a two-night history made from
//! tests/data/debian.json (the second night one cell EOF at 310 s instead of OK): every grid
//! cell's strip is drawn, a click on the changed cell shows both runs' evidence with their
//! lifelines, the latest report draws its lifelines, the diff page compares the two runs, and
//! no request leaves the site.
//!
//! Only by name (`cargo test --test browser_history`): it needs Node.js and Chromium.
//! Screenshots go to `target/history-shots/`.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use mosquitto_matrix::history::site::site;
use mosquitto_matrix::history::History;
use mosquitto_matrix::judge::results::RunResult;
use mosquitto_matrix::plan::Outcome;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_site_shows_each_cells_strip_and_a_changed_cells_two_lifelines_in_chromium_fetching_nothing() -> Result<()> {
    let text = std::fs::read_to_string(root().join("tests/data/debian.json"))?;
    let first: RunResult = serde_json::from_str(&text)?;
    let mut second = first.clone();
    second.run_id = "night-2".to_string();
    second.started_at = "2026-12-02T02:00:00Z".to_string();
    let c = second.cells.iter_mut().find(|c| c.tag == "bookworm" && c.profile == "rfc6455").context("bookworm/rfc6455")?;
    c.verdict.outcome = Outcome::Eof;
    c.verdict.at = Some(std::time::Duration::from_secs(310));
    c.verdict.cause = "broker hung up at 310.0 s without a close frame".to_string();
    // Nothing after the end: the client's close after the hold never happened in this night.
    c.verdict.frames.retain(|f| f.at <= std::time::Duration::from_secs(310));
    let shots = root().join("target/history-shots");
    let dir = shots.join("site");
    let _ = std::fs::remove_dir_all(&dir);
    for (rel, body) in site(&History::of([first, second])) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().context("a parent")?)?;
        std::fs::write(path, body)?;
    }
    let out = Command::new("node")
        .arg(root().join("tests/browser/history.mjs"))
        .arg(&dir)
        .arg("debian")
        .arg(&shots)
        .output()
        .context("node (bash clients/setup.sh installs Node.js, Chromium and playwright-core)")?;
    if !out.status.success() {
        bail!("the browser script failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let seen: Value = serde_json::from_slice(&out.stdout).context("the browser script's JSON")?;
    assert_eq!(seen["fetched"], serde_json::json!([]), "a page fetched something: {}", seen["fetched"]);
    assert_eq!(seen["errors"], serde_json::json!([]), "a page's script failed: {}", seen["errors"]);
    assert_eq!(seen["strips"], 64, "every cell of the grid shows its strip");
    assert_eq!(seen["cell"], "debian/bookworm/rfc6455", "the changed cell is the one clicked");
    let sides = seen["sides"].as_array().context("sides")?;
    assert_eq!(sides.len(), 2, "{seen}");
    assert!(sides[0]["heading"].as_str().unwrap_or_default().starts_with("before: run 1"), "{seen}");
    assert!(sides[1]["cause"].as_str().unwrap_or_default().contains("310.0 s"), "{seen}");
    let (ok, eof) = (&sides[0]["bars"][0], &sides[1]["bars"][0]);
    assert_eq!((ok["cls"].as_str(), eof["cls"].as_str()), (Some("bar o-ok"), Some("bar o-eof")));
    assert!(ok["width"].as_f64().unwrap_or(0.0) > eof["width"].as_f64().unwrap_or(f64::MAX), "330 s drawn longer than 310 s: {seen}");
    assert!(seen["strip"].as_f64().unwrap_or(0.0) > 100.0, "the cell page's strip is visible: {seen}");
    assert_eq!(seen["figures"], 4, "one lifeline drawing per tag in the latest report");
    assert_eq!(seen["diff"]["count"], "1 cells differ between run 1 and run 2", "{seen}");
    assert_eq!(seen["diff"]["rows"], serde_json::json!([["bookworm/rfc6455", "OK, PING 300.0 s", "EOF 310.0 s"]]), "{seen}");
    for shot in ["history-grid.png", "history-cell.png", "report-lifelines.png"] {
        assert!(std::fs::metadata(shots.join(shot)).map(|m| m.len() > 10_000).unwrap_or(false), "a screenshot {shot}");
    }
    Ok(())
}
