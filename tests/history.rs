//! A history built from the repository's own results plus generated variations (an outcome
//! change with its image rebuilt, a digest change alone, a new tag, a new client version),
//! through the binary: what `history add` refuses, what `history show` prints, and what the
//! site's pages say. Docker-free.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary; returns (exit status, stdout, stderr).
fn mm(args: &[&str]) -> Result<(i32, String, String)> {
    let out = Command::new(assert_cmd::cargo::cargo_bin!("mosquitto-matrix")).args(args).output().context("running mosquitto-matrix")?;
    Ok((out.status.code().unwrap_or(-1), String::from_utf8(out.stdout)?, String::from_utf8(out.stderr)?))
}

fn data(name: &str) -> Result<Value> {
    let path = root().join("tests/data").join(name);
    Ok(serde_json::from_str(&std::fs::read_to_string(&path).context(name.to_string())?)?)
}

fn cell<'a>(r: &'a mut Value, tag: &str, profile: &str) -> &'a mut Value {
    r["cells"].as_array_mut().expect("cells").iter_mut().find(|c| c["tag"] == tag && c["profile"] == profile).expect("the cell")
}

fn tag<'a>(r: &'a mut Value, name: &str) -> &'a mut Value {
    r["tags"].as_array_mut().expect("tags").iter_mut().find(|t| t["tag"] == name).expect("the tag")
}

fn night(r: &Value, run_id: &str, day: &str) -> Value {
    let mut r = r.clone();
    r["run_id"] = json!(run_id);
    r["started_at"] = json!(format!("{day}T02:00:00Z"));
    r
}

/// Writes the four nights: debian, eclipse, debian with changes, debian with a new tag and column.
fn nights(dir: &Path) -> Result<Vec<PathBuf>> {
    let debian = data("debian.json")?;
    let eclipse = data("eclipse-synthetic.json")?;
    let mut third = night(&debian, "night-3", "2026-12-02");
    let c = cell(&mut third, "bookworm", "rfc6455");
    c["verdict"]["outcome"] = json!("EOF");
    c["verdict"]["at"] = json!(310.0);
    c["verdict"]["ended_by"] = json!("broker");
    c["verdict"]["cause"] = json!("broker hung up at 310.0 s without a close frame");
    tag(&mut third, "bookworm")["image"]["digest"] = json!(format!("mosquitto-matrix/debian@sha256:{}", "c".repeat(64)));
    tag(&mut third, "trixie")["image"]["digest"] = json!(format!("sha256:{}", "d".repeat(64)));
    let mut fourth = night(&third, "night-4", "2026-12-03");
    // A new tag: sid's cells again under forky's name.
    let mut forky: Vec<Value> = fourth["cells"].as_array().expect("cells").iter().filter(|c| c["tag"] == "sid").cloned().collect();
    forky.iter_mut().for_each(|c| c["tag"] = json!("forky"));
    let mut forky_tag = tag(&mut fourth, "sid").clone();
    forky_tag["tag"] = json!("forky");
    fourth["tags"].as_array_mut().expect("tags").push(forky_tag);
    fourth["cells"].as_array_mut().expect("cells").extend(forky);
    // A new client version: mqttjs@5.17.0 beside 5.16.0 on every tag.
    let mut newer: Vec<Value> = fourth["cells"].as_array().expect("cells").iter().filter(|c| c["profile"] == "mqttjs@5.16.0").cloned().collect();
    newer.iter_mut().for_each(|c| c["profile"] = json!("mqttjs@5.17.0"));
    fourth["cells"].as_array_mut().expect("cells").extend(newer);
    fourth["profiles"].as_array_mut().expect("profiles").push(json!("mqttjs@5.17.0"));
    let mut files = Vec::new();
    for (name, r) in [("1.json", debian), ("2.json", eclipse), ("3.json", third), ("4.json", fourth)] {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_string(&r)?)?;
        files.push(path);
    }
    Ok(files)
}

#[test]
fn a_history_of_four_nights_shows_every_change_and_its_site_carries_the_evidence() -> Result<()> {
    let tmp = root().join("target/history-test");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let files = nights(&tmp)?;
    let hist = tmp.join("history");
    let h = hist.to_str().context("path")?;
    for f in &files {
        let (status, out, err) = mm(&["history", "add", f.to_str().context("path")?, "--into", h])?;
        ensure!(status == 0, "history add {}: {status} {out} {err}", f.display());
    }
    // Never the same run twice, never a schema it cannot read; the history is untouched by either.
    let index = std::fs::read_to_string(hist.join("index.jsonl"))?;
    let (status, _, err) = mm(&["history", "add", files[2].to_str().context("path")?, "--into", h])?;
    ensure!(status == 2 && err.contains("run night-3 is already in the history as run 3"), "{status} {err}");
    let newer = tmp.join("newer.json");
    std::fs::write(&newer, r#"{"schema_version": 99, "cells": []}"#)?;
    let (status, _, err) = mm(&["history", "add", newer.to_str().context("path")?, "--into", h])?;
    ensure!(status == 2 && err.contains("schema_version 99: this tool reads versions 1 to"), "{status} {err}");
    ensure!(std::fs::read_to_string(hist.join("index.jsonl"))? == index, "a refused run changed the index");
    ensure!(std::fs::read(hist.join("runs/000003.json"))? == std::fs::read(&files[2])?, "a run's file is not the bytes given");

    let (status, show, err) = mm(&["history", "show", h])?;
    ensure!(status == 0, "{err}");
    // 64 debian cells, 429 eclipse, forky's 16 and 1 of mqttjs@5.17.0, and mqttjs@5.17.0 on the four old tags.
    ensure!(show.starts_with("4 runs, 514 cells, 1 changes, 2 image digest changes\n"), "{show}");
    let line = |start: &str| show.lines().map(str::trim_start).find(|l| l.starts_with(start)).map(str::to_string);
    let bookworm = line("bookworm/rfc6455 ").context("bookworm/rfc6455's line")?;
    ensure!(bookworm.ends_with("EOF 310.0 s  since run 3 (2026-12-02)"), "{bookworm}");
    ensure!(
        show.contains("    run 3 (2026-12-02): OK, PING 300.0 s → EOF 310.0 s  [image digest sha256:") && show.contains("→ sha256:cccccccccccc]; broker hung up at 310.0 s"),
        "{show}"
    );
    ensure!(line("forky/rfc6455 ").context("forky")?.ends_with("since run 4 (2026-12-03)"), "{show}");
    ensure!(line("bullseye/mqttjs@5.17.0 ").context("the new column")?.contains("since run 4 (2026-12-03)"), "{show}");
    ensure!(line("bullseye/rfc6455 ").context("bullseye")?.ends_with("since run 1 (2026-12-01)"), "{show}");
    let trixie = line("debian trixie: ").context("trixie's digest change")?;
    ensure!(trixie.starts_with("debian trixie: run 3 (2026-12-02): sha256:") && trixie.ends_with(&format!(" → sha256:{}", "d".repeat(64))), "{trixie}");
    ensure!(show.contains("\neclipse: 1 runs, run 2 (2026-12-01) to run 2 (2026-12-01)\n"), "{show}");

    let site = tmp.join("site");
    let (status, out, err) = mm(&["site", h, "--out", site.to_str().context("path")?])?;
    ensure!(status == 0, "{out} {err}");
    let page = |rel: &str| std::fs::read_to_string(site.join(rel)).with_context(|| format!("the site's {rel}"));
    let index = page("index.html")?;
    ensure!(index.contains("Changed in the last run") && index.contains("forky / rfc6455</a>: new in run 4"), "{index}");
    ensure!(index.contains("bookworm / rfc6455</a>: OK, PING 300.0 s → EOF 310.0 s in <a href=\"run/3.html\">run 3</a>"), "the last 30 days miss run 3's change");
    ensure!(index.contains("trixie: image digest changed since run 1"), "the front page misses trixie's rebuilt image");
    let grid = page("set/debian.html")?;
    let td = grid.split("<td ").find(|t| t.contains("data-cell=\"debian/bookworm/rfc6455\"")).context("bookworm/rfc6455 in the grid")?;
    ensure!(td.contains("class=\"cell o-eof\"") && td.contains("title=\"runs 1–1: OK\"") && td.contains("title=\"runs 3–4: EOF\""), "{td}");
    let cellpage = page("cell/debian/bookworm/rfc6455.html")?;
    for want in ["before: <a href=\"../../../run/1.html\">run 1", "after: <a href=\"../../../run/3.html\">run 3", "class=\"bar o-ok\"", "class=\"bar o-eof\"", "image digest changed between these runs", "broker hung up at 310.0 s", "wire timeline"] {
        ensure!(cellpage.contains(want), "the cell's page lacks {want:?}");
    }
    ensure!(page("tag/debian/bookworm.html")?.contains("OK, PING 300.0 s → EOF 310.0 s"), "the tag's page lacks the change");
    ensure!(page("column/debian/rfc6455.html")?.contains("OK, PING 300.0 s → EOF 310.0 s"), "the column's page lacks the change");
    ensure!(page("column/debian/mqttjs@5.17.0.html")?.contains("No cell here has changed its outcome."), "the new column's page");
    ensure!(page("run/3.html")?.contains("Diff with the run before (run 1)"), "run 3 is diffed with run 1, the set's run before");
    ensure!(page("run/4.html")?.contains("forky / mqttjs@5.17.0"), "run 4 lists its new cells");
    ensure!(page("report/debian.html")?.contains("<figure class=\"lifeline\" data-tag=\"forky\">"), "the latest report's lifelines");
    let diff = page("diff.html")?;
    ensure!(diff.contains(r#""id":"bookworm/rfc6455","href":"cell/debian/bookworm/rfc6455.html","last":4,"segments":[[1,"OK, PING 300.0 s"],[3,"EOF 310.0 s"]]"#), "the diff page's data for the changed cell");
    let latest: Value = serde_json::from_str(&page("latest.json")?)?;
    let debian = latest["sets"].as_array().context("sets")?.iter().find(|s| s["set"] == "debian").context("debian")?;
    ensure!(debian["run"] == 4, "{debian}");
    let c = debian["cells"].as_array().context("cells")?.iter().find(|c| c["tag"] == "bookworm" && c["profile"] == "rfc6455").context("the cell")?;
    ensure!(c["outcome"] == "EOF" && c["since_run"] == 3 && c["changes"] == 1, "{c}");
    // Nothing any page would fetch: no external script, style, image or frame.
    for entry in walk(&site)? {
        let text = std::fs::read_to_string(&entry)?;
        let outside_url = text.split("url(").skip(1).any(|rest| !rest.starts_with('#') && !rest.starts_with("`#"));
        ensure!(!text.contains(" src=") && !text.contains("<link") && !outside_url, "{} fetches something", entry.display());
    }
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}
