//! The summary, the terminal view and the HTML page, on two committed results: a real debian
//! run (`tests/data/debian.json`) and a synthetic 33-tag run of the official images built from
//! the reference measurements (`tests/data/eclipse-synthetic.json`, by `make-eclipse.py`).
//!
//! The terminal views are compared with golden files; `UPDATE_GOLDEN=1 cargo test --test
//! summary` rewrites them after a deliberate change (then read the diff).

use std::path::Path;

use mosquitto_matrix::judge::results::RunResult;
use mosquitto_matrix::report::compact::TERMINAL_WIDTH;
use mosquitto_matrix::report::html::html;
use mosquitto_matrix::report::summary::{summarize, ColumnSummary, Summary};
use mosquitto_matrix::report::{self, markdown};
use unicode_width::UnicodeWidthStr;

fn load(name: &str) -> RunResult {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn column<'a>(s: &'a Summary, name: &str) -> &'a ColumnSummary {
    s.columns.iter().find(|c| c.column == name).unwrap_or_else(|| panic!("{name} is in the summary: {s:#?}"))
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("the golden file is written");
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, want, "{} differs; UPDATE_GOLDEN=1 rewrites it", path.display());
}

/// Whether a text shows a negative zero (`-0.0`, `-0.0 s`), not merely a small negative time (`-0.05`).
fn negative_zero(text: &str) -> bool {
    text.match_indices("-0.0").any(|(i, m)| !text[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

fn widest(text: &str) -> usize {
    text.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
}

#[test]
fn the_debian_summary_says_paho_java_drops_at_300_s_on_bullseye_to_trixie_names_issue_912_and_what_to_do() {
    let r = load("debian.json");
    let s = summarize(&r);
    let java = column(&s, "paho-java-1.2.5");
    assert_eq!(java.holds, "sid");
    assert_eq!(java.failures.len(), 1, "{java:#?}");
    let f = &java.failures[0];
    assert_eq!((f.what.as_str(), f.tags.as_str()), ("drops at 300 s", "bullseye–trixie"));
    assert!(f.why.starts_with("the broker's WebSocket PING (libwebsockets 4.x)"), "{}", f.why);
    assert_eq!(f.known.as_ref().map(|k| k.issue.as_str()), Some("eclipse-paho/paho.mqtt.java#912"));
    assert!(f.example.starts_with("bullseye: broker sent WebSocket PING at 300."), "{}", f.example);
    assert_eq!(java.advice.len(), 1, "{:?}", java.advice);
    assert!(java.advice[0].starts_with("2.0: bullseye–trixie → nearest that holds: sid (up, the 2.1 line); clients that hold there: rumqttc, tcp, paho-python@2.1.0"), "{}", java.advice[0]);
    // The real Paho Java 1.2.5 drops the same way, and #912 names it too.
    let real = column(&s, "paho-java@1.2.5");
    assert_eq!((real.failures[0].what.as_str(), real.failures[0].tags.as_str()), ("drops at 300 s", "bullseye–trixie"));
    assert_eq!(real.failures[0].known.as_ref().map(|k| k.issue.as_str()), Some("eclipse-paho/paho.mqtt.java#912"));
    assert!(real.failures[0].example.contains("java.io.EOFException"), "{}", real.failures[0].example);
    let no_pong = column(&s, "no-pong");
    assert_eq!((no_pong.failures[0].what.as_str(), no_pong.failures[0].tags.as_str()), ("drops at 310 s", "bullseye–trixie"));
    assert!(no_pong.failures[0].why.contains("went unanswered and the broker hung up"), "{}", no_pong.failures[0].why);
    assert!(no_pong.failures[0].known.is_none(), "#912 is paho-java's alone");
    for c in ["rfc6455", "unmasked-pong", "rumqttc", "tcp", "paho-python@2.1.0", "mqttjs@5.16.0", "paho-c", "browser"] {
        assert!(s.all_hold.iter().any(|h| h == c), "{c} holds on every debian tag: {:?}", s.all_hold);
    }
}

#[test]
fn the_eclipse_summary_groups_33_tags_into_release_ranges_and_names_mosquitto_1974_fixed_in_2_0_6() {
    let r = load("eclipse-synthetic.json");
    assert_eq!(r.tags.len(), 33);
    let s = summarize(&r);
    assert_eq!(s.tags, "1.6.9–2.1.2-alpine");
    let java = column(&s, "paho-java-1.2.5");
    assert_eq!(java.holds, "1.6.9–1.6.14, 2.0.0–2.0.10, 2.1.0-alpine–2.1.2-alpine");
    assert_eq!(java.failures.len(), 1, "{java:#?}");
    assert_eq!(java.failures[0].tags, "1.6.15, 2.0.11–2.0.22");
    assert_eq!(java.failures[0].what, "drops at 300 s");
    assert!(java.sentence().starts_with(
        "paho-java-1.2.5: holds on 1.6.9–1.6.14, 2.0.0–2.0.10, 2.1.0-alpine–2.1.2-alpine; drops at 300 s on 1.6.15, 2.0.11–2.0.22: \
         the broker's WebSocket PING (libwebsockets 4.x)"
    ), "{}", java.sentence());
    assert_eq!(java.advice.len(), 2, "one per release line: {:?}", java.advice);
    assert!(java.advice[0].starts_with("1.6: 1.6.15 → nearest that holds: 1.6.14 (down), 2.0.0 (up, the 2.0 line)"), "{}", java.advice[0]);
    assert!(java.advice[1].starts_with("2.0: 2.0.11–2.0.22 → nearest that holds: 2.0.10 (down), 2.1.0-alpine (up, the 2.1 line)"), "{}", java.advice[1]);
    let js = column(&s, "mqttjs@5.16.0");
    assert_eq!(js.holds, "1.6.9–1.6.15, 2.0.6–2.1.2-alpine");
    assert_eq!((js.failures[0].what.as_str(), js.failures[0].tags.as_str()), ("drops before CONNACK", "2.0.0–2.0.5"));
    assert!(js.sentence().contains("drops before CONNACK on 2.0.0–2.0.5: "), "matrix.toml expects it: {}", js.sentence());
    let known = js.failures[0].known.as_ref().expect("#1974 explains it");
    assert_eq!((known.issue.as_str(), known.fixed_in.as_deref()), ("eclipse-mosquitto/mosquitto#1974", Some("Mosquitto 2.0.6")));
    assert!(js.failures[0].example.contains("after a CONNECT sent as 13 WebSocket frames, before any CONNACK"), "{}", js.failures[0].example);
    assert!(js.advice[0].starts_with("2.0: 2.0.0–2.0.5 → nearest that holds: 2.0.6 (up); clients that hold there: rumqttc, tcp, paho-python@2.1.0, paho-python@1.6.1, paho-c, paho-go@1.1.1"), "{}", js.advice[0]);
    assert_eq!(s.all_hold, ["rfc6455", "unmasked-pong", "rumqttc", "tcp", "paho-python@2.1.0", "paho-python@1.6.1", "paho-c", "paho-go@1.1.1"]);
}

#[test]
fn the_terminal_view_of_the_debian_run_fits_120_columns_and_matches_its_golden_file() {
    let text = report::table(&load("debian.json"));
    assert!(widest(&text) <= TERMINAL_WIDTH, "{} columns wide:\n{text}", widest(&text));
    assert!(text.starts_with("set debian"), "{text}");
    assert!(text.find("Summary over").expect("a summary") < text.find("│ ").expect("a grid"), "the summary comes first:\n{text}");
    golden("debian.table.txt", &text);
}

#[test]
fn the_terminal_view_of_33_eclipse_tags_folds_identical_rows_fits_120_columns_and_matches_its_golden_file() {
    let text = report::table(&load("eclipse-synthetic.json"));
    assert!(widest(&text) <= TERMINAL_WIDTH, "{} columns wide:\n{text}", widest(&text));
    for fold in [
        "1.6.10–1.6.14 ┆ as 1.6.9",
        "2.0.1–2.0.5 ┆ as 2.0.0",
        "2.0.7–2.0.10 ┆ as 2.0.6",
        "2.0.12–2.0.22 ┆ as 2.0.11",
        "2.1.1-alpine–2.1.2-alpine ┆ as 2.1.0-alpine",
    ] {
        assert!(text.contains(fold), "{fold:?} is folded:\n{text}");
    }
    assert!(!negative_zero(&text), "{text}");
    golden("eclipse.table.txt", &text);
}

#[test]
fn the_wide_table_and_the_markdown_keep_every_row_and_put_the_summary_first() {
    let r = load("eclipse-synthetic.json");
    let wide = report::table_wide(&r);
    assert!(widest(&wide) > 2 * TERMINAL_WIDTH, "table-wide is today's full grid");
    assert_eq!(wide.lines().filter(|l| l.starts_with("│ 2.0.")).count(), 23, "every 2.0 tag has its row");
    let md = markdown(&r);
    assert!(md.find("### Summary").expect("summary") < md.find("| tag |").expect("grid"), "{md}");
    assert!(md.contains("[eclipse-mosquitto/mosquitto#1974](https://github.com/eclipse-mosquitto/mosquitto/issues/1974)"), "{md}");
    assert!(!negative_zero(&md) && !negative_zero(&wide));
}

#[test]
fn the_html_page_is_one_file_that_fetches_nothing_and_carries_every_cells_timeline() {
    let r = load("debian.json");
    let page = html(&r);
    for fetch in ["<link", " src=", "@import", "url(http", "fetch(", "XMLHttpRequest"] {
        assert!(!page.contains(fetch), "the page must not load anything: found {fetch:?}");
    }
    assert_eq!(page.matches("<td class=\"cell").count(), r.cells.len(), "one grid cell per result cell");
    assert!(page.contains("eclipse-paho/paho.mqtt.java#912"));
    assert!(page.contains("id=\"cells\" type=\"application/json\""));
    assert!(!negative_zero(&page));
}

#[test]
fn a_column_that_holds_where_matrix_toml_expects_a_failure_says_so() {
    let mut r = load("debian.json");
    let c = r.cells.iter_mut().find(|c| c.id() == "bullseye/paho-java-1.2.5").expect("the cell");
    c.verdict.outcome = mosquitto_matrix::plan::Outcome::Ok;
    c.verdict.frames.clear();
    c.status = mosquitto_matrix::judge::results::Status::Changed;
    let s = summarize(&r);
    let java = column(&s, "paho-java-1.2.5");
    assert_eq!((java.holds.as_str(), java.holds_unexpectedly.as_str()), ("bullseye, sid", "bullseye"));
    assert!(java.sentence().contains("; matrix.toml expects it to fail on bullseye;"), "{}", java.sentence());
    assert_eq!(java.failures[0].tags, "bookworm–trixie");
    // And a failure matrix.toml does not expect.
    let pong = r.cells.iter_mut().find(|c| c.id() == "trixie/no-pong").expect("the cell");
    pong.status = mosquitto_matrix::judge::results::Status::Changed;
    let s = summarize(&r);
    let no_pong = column(&s, "no-pong");
    assert!(no_pong.sentence().contains("drops at 310 s on bullseye–trixie (not as matrix.toml expects): "), "{}", no_pong.sentence());
}

#[test]
fn a_tag_whose_broker_could_not_be_had_is_said_once_not_once_per_column() {
    let mut r = load("debian.json");
    let sid = r.tags.iter_mut().find(|t| t.tag == "sid").expect("sid");
    sid.error = Some("mosquitto-matrix/debian:sid: broker not ready within 60 s".into());
    for c in r.cells.iter_mut().filter(|c| c.tag == "sid") {
        c.verdict = mosquitto_matrix::judge::verdict::error("not run: the broker of sid could not be had");
        c.status = mosquitto_matrix::judge::results::Status::Error;
    }
    let s = summarize(&r);
    assert_eq!(s.not_run, "sid");
    let java = column(&s, "paho-java-1.2.5");
    assert_eq!((java.holds.as_str(), java.failures.len()), ("", 1), "{java:#?}");
    assert!(s.all_hold.iter().any(|c| c == "rfc6455"), "{:?}", s.all_hold);
    let text = report::table(&r);
    assert!(text.contains("Hold on every tag that ran: rfc6455"), "{text}");
    assert_eq!(text.matches("broker not ready").count(), 1, "{text}");
    assert!(widest(&text) <= TERMINAL_WIDTH, "{text}");
}

#[test]
fn a_run_with_copies_keeps_each_tags_copies_together_and_still_fits_120_columns() {
    let one = load("debian.json");
    let mut r = one.clone();
    r.copies = 3;
    r.tags.clear();
    r.cells.clear();
    for k in 1..=3 {
        for t in &one.tags {
            let row = format!("{}#{k}", t.tag);
            r.tags.push(mosquitto_matrix::judge::results::TagResult { tag: row.clone(), ..t.clone() });
            r.cells.extend(one.cells.iter().filter(|c| c.tag == t.tag).map(|c| {
                let mut c = c.clone();
                c.tag = row.clone();
                c
            }));
        }
    }
    let s = summarize(&r);
    let java = column(&s, "paho-java-1.2.5");
    assert_eq!((java.holds.as_str(), java.failures[0].tags.as_str()), ("sid#1–sid#3", "bullseye#1–trixie#3"));
    let text = report::table(&r);
    assert!(widest(&text) <= TERMINAL_WIDTH, "{text}");
    assert!(text.contains("bullseye#2–trixie#3 ┆ as bullseye#1"), "{text}");
}

#[test]
fn a_client_whose_newer_versions_hold_and_older_ones_drop_is_answered_with_the_version_that_fixes_it() {
    let mut r = load("debian.json");
    assert!(summarize(&r).versions.iter().all(|v| !v.starts_with("paho-python")), "every version holds: no split to name");
    for c in r.cells.iter_mut().filter(|c| c.profile == "paho-python@1.6.1" && c.tag != "sid") {
        c.verdict.outcome = mosquitto_matrix::plan::Outcome::Eof;
        c.verdict.at = Some(std::time::Duration::from_secs_f64(300.04));
    }
    let s = summarize(&r);
    assert!(s.versions.contains(&"paho-python on bullseye–trixie: holds from 2.1.0 on; 1.6.1 drops at 300 s".to_string()), "{:?}", s.versions);
    assert!(report::markdown(&r).contains("- paho-python on bullseye–trixie: holds from 2.1.0 on; 1.6.1 drops at 300 s."));
    // The other way round on sid: the newer version drops there.
    for c in r.cells.iter_mut().filter(|c| c.profile == "paho-python@2.1.0" && c.tag == "sid") {
        c.verdict.outcome = mosquitto_matrix::plan::Outcome::Eof;
        c.verdict.at = Some(std::time::Duration::from_secs_f64(299.96));
    }
    let s = summarize(&r);
    let python: Vec<&String> = s.versions.iter().filter(|v| v.starts_with("paho-python")).collect();
    assert_eq!(python, ["paho-python on bullseye–trixie: holds from 2.1.0 on; 1.6.1 drops at 300 s", "paho-python on sid: drops at 300 s from 2.1.0 on; 1.6.1 holds"]);
}

/// `r` with a copy of `from`'s column and cells as `to`, its library `library`, placed first.
fn with_column_copy(r: &mut RunResult, from: &str, to: &str, library: &str) {
    let cells: Vec<_> = r.cells.iter().filter(|c| c.profile == from).cloned().collect();
    for mut c in cells {
        c.profile = to.to_string();
        r.cells.push(c);
    }
    let mut info = r.columns.iter().find(|c| c.name == from).cloned().expect("the column is in the result");
    info.name = to.to_string();
    info.library = Some(library.to_string());
    r.columns.insert(0, info);
    r.profiles.insert(0, to.to_string());
}

#[test]
fn the_version_that_fixes_it_is_named_in_release_order_whatever_the_column_order() {
    let mut r = load("debian.json");
    // Three versions, the columns in no order: 2.0.0 first, then 2.1.0, then 1.6.1.
    with_column_copy(&mut r, "paho-python@1.6.1", "paho-python@2.0.0", "paho-mqtt 2.0.0");
    for c in r.cells.iter_mut().filter(|c| (c.profile == "paho-python@1.6.1" || c.profile == "paho-python@2.0.0") && c.tag != "sid") {
        c.verdict.outcome = mosquitto_matrix::plan::Outcome::Eof;
        c.verdict.at = Some(std::time::Duration::from_secs_f64(if c.profile.ends_with("2.0.0") { 300.4 } else { 299.6 }));
    }
    let s = summarize(&r);
    let python: Vec<&String> = s.versions.iter().filter(|v| v.starts_with("paho-python")).collect();
    assert_eq!(python, ["paho-python on bullseye–trixie: holds from 2.1.0 on; 2.0.0 and earlier drop at 300 s"]);
    // A split that is not clean (drop, hold, drop in release order) names no version.
    for c in r.cells.iter_mut().filter(|c| c.profile == "paho-python@1.6.1") {
        c.verdict.outcome = mosquitto_matrix::plan::Outcome::Ok;
    }
    assert!(summarize(&r).versions.iter().all(|v| !v.starts_with("paho-python on bullseye")), "{:?}", summarize(&r).versions);
}

#[test]
fn a_new_client_release_is_answered_with_the_tags_it_holds_and_drops_on() {
    let mut r = load("debian.json");
    assert!(summarize(&r).new_releases.is_empty(), "every column of the debian run has its expectations");
    with_column_copy(&mut r, "paho-python@2.1.0", "paho-python@2.2.0", "paho-mqtt 2.2.0");
    for c in r.cells.iter_mut().filter(|c| c.profile == "paho-python@2.2.0") {
        c.expected = None;
        if c.tag != "sid" {
            c.verdict.outcome = mosquitto_matrix::plan::Outcome::Eof;
            c.verdict.at = Some(std::time::Duration::from_secs_f64(300.1));
        }
    }
    let s = summarize(&r);
    assert_eq!(s.new_releases, ["new client release: paho-mqtt 2.2.0: holds on sid, drops on bullseye–trixie at 300 s"]);
    assert!(report::markdown(&r).contains("- new client release: paho-mqtt 2.2.0: holds on sid, drops on bullseye–trixie at 300 s."));
    for c in r.cells.iter_mut().filter(|c| c.profile == "paho-python@2.2.0") {
        c.verdict.outcome = mosquitto_matrix::plan::Outcome::Ok;
    }
    assert_eq!(summarize(&r).new_releases, ["new client release: paho-mqtt 2.2.0: holds on bullseye–sid"]);
}

#[test]
fn an_accelerated_run_says_how_late_its_brokers_answered_once_it_reached_a_second() {
    use mosquitto_matrix::report::wording::run_line;
    use std::time::Duration;
    let mut r = load("debian.json");
    r.speed = 30;
    assert!(!run_line(&r).contains("brokers answered"), "no lag recorded, nothing said: {}", run_line(&r));
    for (k, cell) in r.cells.iter_mut().enumerate() {
        cell.verdict.broker_lag = Some(Duration::from_millis(100 * (k as u64 % 10)));
    }
    assert!(!run_line(&r).contains("brokers answered"), "under a second, nothing said: {}", run_line(&r));
    r.cells[0].verdict.broker_lag = Some(Duration::from_secs(6));
    let line = run_line(&r);
    assert!(line.contains("brokers answered PINGREQs up to 6.0 s late (median 0.4 s, 200 ms of real time at most)"), "{line}");
}
