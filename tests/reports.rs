//! Reports, diffs, merges and baselines on synthetic results: no Docker.

use std::path::Path;
use std::time::Duration;

use mosquitto_matrix::report::baseline;
use mosquitto_matrix::report::compare::{self, diff, merge};
use mosquitto_matrix::report::exit;
use mosquitto_matrix::report::junit::junit;
use mosquitto_matrix::plan::MatrixFile;
use mosquitto_matrix::plan::Profile;
use mosquitto_matrix::judge::record::Party;
use mosquitto_matrix::report;
use mosquitto_matrix::judge::results::{BrokerFailure, CellResult, ImageFacts, RunResult, Status, TagResult, SCHEMA_VERSION};
use mosquitto_matrix::judge::verdict::{self, Verdict};
use mosquitto_matrix::plan::Outcome;

fn verdict(outcome: Outcome, at: Option<f64>) -> Verdict {
    let mut v = verdict::error("synthetic");
    v.outcome = outcome;
    v.at = at.map(Duration::from_secs_f64);
    v.ended_by = (outcome != Outcome::Ok).then_some(Party::Broker);
    v.five_minute_mark_reached = true;
    v.cause = format!("{outcome} for the test");
    v
}

fn cell(tag: &str, profile: Profile, outcome: Outcome, at: Option<f64>, expected: &str, status: Status) -> CellResult {
    CellResult {
        tag: tag.into(),
        profile: profile.name().to_string(),
        route: "direct".into(),
        expected: Some(expected.into()),
        status,
        verdict: verdict(outcome, at),
        client_id: Some("c".into()),
        started_at: "2026-11-27T00:00:00Z".into(),
        ended_at: "2026-11-27T00:05:30Z".into(),
        process: None,
        wire: Vec::new(),
    }
}

fn result(cells: Vec<CellResult>) -> RunResult {
    let mut tags: Vec<String> = cells.iter().map(|c| c.tag.clone()).collect();
    tags.dedup();
    RunResult {
        schema_version: SCHEMA_VERSION,
        tool_version: "0.1.0".into(),
        run_id: "r".into(),
        set: "debian".into(),
        image: "mosquitto-matrix/debian".into(),
        hold_secs: 330.0,
        keepalive_secs: 60.0,
        five_minute_mark_reached: true,
        profiles: vec![Profile::PahoJava125.name().to_string(), Profile::Rfc6455.name().to_string()],
        routes: vec!["direct".into()],
        columns: Vec::new(),
        contract_version: None,
        speed: 1,
        left_out: Vec::new(),
        shard: None,
        tags: tags
            .into_iter()
            .map(|t| TagResult {
                tag: t,
                broker_version: Some("mosquitto version 2.0.11".into()),
                image: ImageFacts { lws_version: Some("4.1.6".into()), ..ImageFacts::default() },
                ..TagResult::default()
            })
            .collect(),
        cells,
        started_at: "2026-11-27T00:00:00Z".into(),
        ended_at: "2026-11-27T00:05:31Z".into(),
        wall_secs: 331.0,
        copies: 1,
        known_issues: Vec::new(),
        harness_fault: None,
        scheduling: Vec::new(),
        left_behind: None,
        client_mode: mosquitto_matrix::plan::ClientMode::Runtime,
    }
}

fn bookworm_and_sid() -> RunResult {
    result(vec![
        cell("bookworm", Profile::PahoJava125, Outcome::Eof, Some(300.0), "EOF@300", Status::Met),
        cell("bookworm", Profile::Rfc6455, Outcome::Ok, Some(330.0), "OK", Status::Met),
        cell("sid", Profile::PahoJava125, Outcome::Ok, Some(330.0), "OK", Status::Met),
        cell("sid", Profile::Rfc6455, Outcome::Ok, Some(330.0), "OK", Status::Met),
    ])
}

#[test]
fn the_markdown_table_has_a_row_per_tag_a_column_per_profile_and_the_causes_under_it() {
    let md = report::markdown(&bookworm_and_sid());
    assert!(md.contains("| tag | mosquitto ($SYS) | LWS_VERSION | paho-java-1.2.5 | rfc6455 |"), "{md}");
    assert!(md.contains("| bookworm | 2.0.11 | 4.1.6 | 💥 EOF 300.0 s [1] | OK |"), "{md}");
    assert!(md.contains("1. bookworm/paho-java-1.2.5: EOF for the test"), "{md}");
}

#[test]
fn the_json_report_round_trips_with_its_schema_version() {
    let r = bookworm_and_sid();
    let back: RunResult = serde_json::from_str(&report::json(&r)).expect("valid JSON");
    assert_eq!(back, r);
    assert!(report::json(&r).contains(&format!("\"schema_version\": {SCHEMA_VERSION}")));
}

#[test]
fn a_schema_1_report_without_command_columns_still_reads() {
    let mut v: serde_json::Value = serde_json::from_str(&report::json(&bookworm_and_sid())).expect("valid JSON");
    let o = v.as_object_mut().expect("an object");
    o.insert("schema_version".into(), 1.into());
    o.remove("columns");
    o.remove("contract_version");
    let old: RunResult = serde_json::from_value(v).expect("a version-1 report reads");
    assert_eq!(old.profiles, ["paho-java-1.2.5", "rfc6455"]);
    assert!(old.columns.is_empty());
}

#[test]
fn a_report_from_before_client_modes_reads_as_a_process_mode_run() {
    let mut v: serde_json::Value = serde_json::from_str(&report::json(&bookworm_and_sid())).expect("valid JSON");
    let o = v.as_object_mut().expect("an object");
    o.insert("schema_version".into(), 4.into());
    assert!(o.remove("client_mode").is_some(), "schema 5 writes the client mode");
    let old: RunResult = serde_json::from_value(v).expect("a version-4 report reads");
    assert_eq!(old.client_mode, mosquitto_matrix::plan::ClientMode::Process, "every cell was a process then");
}

#[test]
fn diff_names_only_the_cells_whose_outcome_changed() {
    let old = bookworm_and_sid();
    let mut new = bookworm_and_sid();
    new.cells[3].verdict = verdict(Outcome::Eof, Some(310.1));
    new.cells[0].verdict.at = Some(Duration::from_secs_f64(301.0)); // within 5 s: the same outcome
    let changes = diff(&old, &new);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].cell, "sid/rfc6455");
    assert_eq!(changes[0].old, "OK");
    assert_eq!(changes[0].new, "💥 EOF 310.1 s");
    assert!(compare::diff_markdown(&changes).contains("| sid/rfc6455 | OK | 💥 EOF 310.1 s |"));
}

#[test]
fn diff_within_compares_the_brokers_side_of_an_end_the_client_answered_not_the_clients_reaction() {
    // x1: the PING at 300.0 s, the client's close 2 ms later. x10: the same PING, the close
    // 1.3 s of broker time later (0.13 s real: a JVM's reaction, multiplied by the clock).
    let answered = |ping: f64, close: f64| {
        let mut v = verdict(Outcome::Eof, Some(close));
        v.ended_by = Some(Party::Client);
        v.answered = Some(Duration::from_secs_f64(ping));
        v
    };
    let mut old = bookworm_and_sid();
    old.cells[0].verdict = answered(300.0, 300.002);
    let mut new = bookworm_and_sid();
    new.cells[0].verdict = answered(300.1, 301.3);
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)), vec![]);
    // The broker's own time moved: that is a change.
    new.cells[0].verdict = answered(301.2, 301.3);
    let changes = compare::diff_within(&old, &new, Duration::from_secs(1));
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].cell, "bookworm/paho-java-1.2.5");
}

#[test]
fn diff_within_lets_a_time_read_early_by_a_late_101_agree_up_to_its_upgrade_span_and_no_further() {
    // x10, 8 copies: a broker row's 101s came 0.17 s (real) after the requests, and its PINGs
    // read 298.5 s against 300.0 s at x1: the broker's timers had started up to 1.7 s before.
    let mut old = bookworm_and_sid();
    old.cells[0].verdict = verdict(Outcome::Eof, Some(300.0));
    let mut new = bookworm_and_sid();
    new.cells[0].verdict = Verdict { upgrade_span: Some(Duration::from_secs_f64(1.7)), ..verdict(Outcome::Eof, Some(298.5)) };
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)), vec![]);
    assert_eq!(compare::diff_within(&new, &old, Duration::from_secs(1)), vec![], "either way round");
    // A span too short to cover it, or a time read late (the span only ever makes it later).
    new.cells[0].verdict.upgrade_span = Some(Duration::from_secs_f64(0.3));
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)).len(), 1);
    new.cells[0].verdict = Verdict { upgrade_span: Some(Duration::from_secs_f64(1.7)), ..verdict(Outcome::Eof, Some(301.5)) };
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)).len(), 1);
}

#[test]
fn diff_within_lets_a_time_read_late_from_a_broker_that_lagged_agree_up_to_its_lag_and_no_further() {
    // x30, 12 copies: the hang-up read at 316.9 s against 310.0 s at x1, from a broker that took
    // up to 6.6 s to answer a PINGREQ.
    let mut old = bookworm_and_sid();
    old.cells[0].verdict = verdict(Outcome::Eof, Some(310.0));
    let mut new = bookworm_and_sid();
    new.cells[0].verdict = Verdict { broker_lag: Some(Duration::from_secs_f64(6.6)), ..verdict(Outcome::Eof, Some(316.9)) };
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)), vec![]);
    assert_eq!(compare::diff_within(&new, &old, Duration::from_secs(1)), vec![], "either way round");
    // A lag too short to cover it, or a time read early (the lag only ever makes it earlier).
    new.cells[0].verdict.broker_lag = Some(Duration::from_secs(2));
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)).len(), 1);
    new.cells[0].verdict = Verdict { broker_lag: Some(Duration::from_secs_f64(6.6)), ..verdict(Outcome::Eof, Some(308.0)) };
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)).len(), 1);
}

#[test]
fn diff_within_holds_a_real_clock_column_to_the_tolerance_in_its_own_real_time() {
    // A Go client at x10 runs on real time: the broker's DISCONNECT answering its SUBSCRIBE came
    // 0.01 s after CONNACK at x1 and 1.1 s of broker time (0.11 s real) after it at x10.
    let ended = |at: f64| {
        let mut v = verdict(Outcome::Eof, Some(at));
        v.ended_by = Some(Party::Broker);
        v
    };
    let mut old = bookworm_and_sid();
    old.cells[0].verdict = ended(0.01);
    let mut new = bookworm_and_sid();
    new.speed = 10;
    new.cells[0].verdict = ended(1.1);
    let column = new.cells[0].column().to_string();
    let info = |real_clock: bool| mosquitto_matrix::judge::results::ColumnInfo {
        name: column.clone(),
        kind: "command".into(),
        command: None,
        transport: mosquitto_matrix::plan::Transport::Ws,
        library: None,
        description: None,
        artefact: None,
        real_clock,
    };
    new.columns = vec![info(false)];
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)).len(), 1, "a client on the brokers' clock: 1.09 s apart is a change");
    new.columns = vec![info(true)];
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)), vec![], "on real time: 0.109 s of its own time");
    new.cells[0].verdict = ended(10.5);
    assert_eq!(compare::diff_within(&old, &new, Duration::from_secs(1)).len(), 1, "past the tolerance in real time too");
}

#[test]
fn merging_shards_gives_back_the_whole_run_and_refuses_overlaps() {
    let whole = bookworm_and_sid();
    let a = result(whole.cells[..2].to_vec());
    let b = result(whole.cells[2..].to_vec());
    let mut merged = merge(vec![("b".into(), b.clone()), ("a".into(), a.clone())]).expect("merges");
    compare::reorder(&mut merged, &["bookworm".into(), "sid".into()]);
    assert_eq!(merged.cells, whole.cells);
    assert_eq!(merged.tags, whole.tags);
    let err = merge(vec![("a".into(), a.clone()), ("again".into(), a)]).expect_err("overlap");
    assert_eq!(err.to_string(), "again: cell bookworm/paho-java-1.2.5 is also in an earlier shard");
}

#[test]
fn exit_status_is_2_for_a_harness_fault_1_for_changes_3_for_errors_alone_4_for_no_cell_and_0_otherwise() {
    let mut r = bookworm_and_sid();
    assert_eq!(compare::exit_status(&r), exit::MET);
    r.cells[2].status = Status::Error;
    assert_eq!(compare::exit_status(&r), exit::CELLS_ERRORED);
    r.cells[1].status = Status::Changed;
    assert_eq!(compare::exit_status(&r), exit::CHANGED, "a changed outcome outranks an ERROR");
    r.harness_fault = Some("the Docker engine stopped answering".into());
    assert_eq!(compare::exit_status(&r), exit::HARNESS_FAILED, "a harness fault is never a change");
    let mut empty = bookworm_and_sid();
    empty.cells.clear();
    assert_eq!(compare::exit_status(&empty), exit::NOTHING_TO_RUN);
    assert_eq!((exit::MET, exit::CHANGED, exit::HARNESS_FAILED, exit::CELLS_ERRORED, exit::NOTHING_TO_RUN, exit::USAGE), (0, 1, 2, 3, 4, 64));
}

#[test]
fn junit_has_a_test_case_per_cell_and_fails_the_changed_one_with_its_cause() {
    let mut r = bookworm_and_sid();
    r.cells[3] = cell("sid", Profile::Rfc6455, Outcome::Eof, Some(310.1), "OK", Status::Changed);
    let xml = junit(&r);
    assert_eq!(xml.matches("<testcase").count(), 4, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(xml.contains("expected OK, got 💥 EOF 310.1 s: EOF for the test"), "{xml}");
}

#[test]
fn baseline_rewrites_only_the_changed_expectation_and_keeps_comments_and_layout() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).expect("matrix.toml");
    let mut r = bookworm_and_sid();
    r.cells[3].verdict = verdict(Outcome::Eof, Some(310.1));
    let b = baseline::apply(Path::new("matrix.toml"), &text, &r).expect("applies");
    assert_eq!(b.changed, ["sid/rfc6455: OK -> EOF@310"]);
    let before: Vec<&str> = text.lines().collect();
    let after: Vec<&str> = b.text.lines().collect();
    assert_eq!(before.len(), after.len());
    let differing: Vec<(usize, &str)> =
        before.iter().zip(&after).enumerate().filter(|(_, (x, y))| x != y).map(|(i, (_, y))| (i, *y)).collect();
    assert_eq!(differing.len(), 1, "{differing:?}");
    assert!(differing[0].1.starts_with("\"sid\"      = {"), "{}", differing[0].1);
    assert!(differing[0].1.contains("rfc6455 = \"EOF@310\","), "{}", differing[0].1);
    let reloaded = MatrixFile::parse(Path::new("matrix.toml"), &b.text).expect("still valid");
    let sid = reloaded.set("debian").expect("debian").expect[&("sid".to_string(), Profile::Rfc6455.name().to_string())];
    assert_eq!(sid.to_string(), "EOF@310");
}

#[test]
fn baseline_adds_a_new_release_tag_and_its_row() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).expect("matrix.toml");
    let mut r = result(vec![cell("forky", Profile::Rfc6455, Outcome::Ok, Some(330.0), "OK", Status::New)]);
    r.cells[0].expected = None;
    let b = baseline::apply(Path::new("matrix.toml"), &text, &r).expect("applies");
    assert_eq!(b.added_tags, ["forky"]);
    let reloaded = MatrixFile::parse(Path::new("matrix.toml"), &b.text).expect("still valid");
    let debian = reloaded.set("debian").expect("debian");
    assert!(debian.tags.contains(&"forky".to_string()));
    assert_eq!(debian.expect[&("forky".to_string(), Profile::Rfc6455.name().to_string())].to_string(), "OK");
}

#[test]
fn baseline_takes_a_client_version_run_on_demand_into_its_clients_versions_with_its_expectations() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).expect("matrix.toml");
    let mut r = result(vec![
        cell("bookworm", Profile::Rfc6455, Outcome::Ok, Some(330.0), "OK", Status::Met),
        cell("bookworm", Profile::Rfc6455, Outcome::Eof, Some(300.2), "OK", Status::New),
        cell("sid", Profile::Rfc6455, Outcome::Ok, Some(330.0), "OK", Status::New),
    ]);
    for c in r.cells.iter_mut().skip(1) {
        c.profile = "paho-python@9.1.0".into();
        c.expected = None;
    }
    r.profiles = vec![Profile::Rfc6455.name().to_string(), "paho-python@9.1.0".into()];
    let b = baseline::apply(Path::new("matrix.toml"), &text, &r).expect("applies");
    assert_eq!(b.added_versions, ["paho-python@9.1.0"]);
    // The client's own entry holds on sid (paho-python = "OK" in matrix.toml): only bookworm is written.
    assert_eq!(b.changed, ["bookworm/paho-python@9.1.0: (none) -> EOF@300"]);
    let reloaded = MatrixFile::parse(Path::new("matrix.toml"), &b.text).expect("still valid");
    let family = reloaded.versioned.iter().find(|f| f.client == "paho-python").expect("paho-python");
    assert_eq!(family.versions.last().map(String::as_str), Some("9.1.0"));
    assert!(!family.defaults.contains(&"9.1.0".to_string()), "a new version is not a default until someone says so");
    let debian = reloaded.set("debian").expect("debian");
    assert_eq!(debian.expect[&("bookworm".to_string(), "paho-python@9.1.0".to_string())].to_string(), "EOF@300");
    assert_eq!(debian.expect[&("sid".to_string(), "paho-python@9.1.0".to_string())].to_string(), "OK");
    // An older release goes where it belongs in release order.
    r.profiles[1] = "paho-python@1.6.0".into();
    for c in r.cells.iter_mut().skip(1) {
        c.profile = "paho-python@1.6.0".into();
    }
    let older = baseline::apply(Path::new("matrix.toml"), &text, &r).expect("applies");
    let reloaded = MatrixFile::parse(Path::new("matrix.toml"), &older.text).expect("still valid");
    let family = reloaded.versioned.iter().find(|f| f.client == "paho-python").expect("paho-python");
    assert_eq!(family.versions, ["1.5.1", "1.6.0", "1.6.1", "2.0.0", "2.1.0", "2.2.0"]);
}

/// bookworm ran; 1.6.9's broker never answered, so both its cells are ERROR.
fn one_tag_not_had() -> RunResult {
    let mut r = result(vec![
        cell("bookworm", Profile::PahoJava125, Outcome::Eof, Some(300.0), "EOF@300", Status::Met),
        cell("bookworm", Profile::Rfc6455, Outcome::Ok, Some(330.0), "OK", Status::Met),
        cell("1.6.9", Profile::PahoJava125, Outcome::Error, None, "OK", Status::Error),
        cell("1.6.9", Profile::Rfc6455, Outcome::Error, None, "OK", Status::Error),
    ]);
    for c in r.cells.iter_mut().filter(|c| c.tag == "1.6.9") {
        c.verdict = verdict::error("not run: the broker of 1.6.9 could not be had");
    }
    let t = r.tags.iter_mut().find(|t| t.tag == "1.6.9").expect("tag");
    t.broker_version = None;
    t.error = Some(
        "eclipse-mosquitto:1.6.9: broker not ready within 60 s (ws 9001 at 127.0.0.1:1: connection ended before CONNACK); \
         last broker log lines: a | b"
            .into(),
    );
    t.failure = Some(BrokerFailure {
        reason: "broker not ready within 60 s (ws 9001 at 127.0.0.1:1: connection ended before CONNACK)".into(),
        exit_status: None,
        log_tail: vec!["a".into(), "b".into()],
    });
    r
}

#[test]
fn a_broker_that_could_not_be_had_is_one_note_and_one_failure_line_for_its_tag() {
    let r = one_tag_not_had();
    let want = "1.6.9: broker not ready within 60 s (ws 9001 at 127.0.0.1:1: connection ended before CONNACK) — 2 cells not run; last log lines: a | b";
    assert_eq!(report::failures(&r), [want]);
    let table = report::table_wide(&r);
    assert_eq!(table.matches("broker not ready").count(), 1, "{table}");
    assert!(table.contains(&format!("[2] {want}")), "{table}");
    assert_eq!(table.matches("⚠ ERROR [2]").count(), 2, "both cells point at the tag's note: {table}");
    let md = report::markdown(&r);
    assert_eq!(md.matches("broker not ready").count(), 1, "{md}");
    // JUnit keeps an error per cell, with the short cause.
    let xml = junit(&r);
    assert_eq!(xml.matches("<error").count(), 2, "{xml}");
    assert!(!xml.contains("broker not ready"), "{xml}");
    assert!(xml.contains("not run: the broker of 1.6.9 could not be had"), "{xml}");
}

#[test]
fn a_result_written_before_failures_had_parts_still_reads_and_says_its_error_once() {
    let mut r = one_tag_not_had();
    let mut json: serde_json::Value = serde_json::from_str(&report::json(&r)).expect("JSON");
    for t in json["tags"].as_array_mut().expect("tags") {
        t.as_object_mut().expect("object").remove("failure");
    }
    let old: RunResult = serde_json::from_value(json).expect("an older result still reads");
    r.tags[1].failure = None;
    assert_eq!(old, r);
    let lines = report::failures(&old);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("1.6.9: eclipse-mosquitto:1.6.9: broker not ready within 60 s"), "{lines:?}");
    assert!(lines[0].contains("— 2 cells not run"), "{lines:?}");
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

#[test]
fn a_tag_rebuilt_since_the_baseline_gets_a_note_with_both_digests() {
    let mut r = bookworm_and_sid();
    r.tags[0].baseline_digest = Some(digest('a'));
    r.tags[0].image.digest = Some(format!("eclipse-mosquitto@{}", digest('b')));
    r.tags[1].baseline_digest = Some(digest('c'));
    r.tags[1].image.digest = Some(format!("eclipse-mosquitto@{}", digest('c')));
    let table = report::table_wide(&r);
    let note = format!("bookworm: image digest changed since the baseline ({} → {})", digest('a'), digest('b'));
    assert!(table.contains(&note), "{table}");
    assert!(!table.contains("sid: image digest"), "{table}");
    assert!(report::failures(&r).is_empty(), "a rebuilt image alone is no failure");
    let back: RunResult = serde_json::from_str(&report::json(&r)).expect("JSON");
    assert_eq!(back, r);
}

#[test]
fn diff_lists_the_tags_whose_digest_changed() {
    let mut old = bookworm_and_sid();
    let mut new = bookworm_and_sid();
    old.tags[0].image.digest = Some(format!("eclipse-mosquitto@{}", digest('a')));
    new.tags[0].image.digest = Some(format!("127.0.0.1:5000/eclipse-mosquitto@{}", digest('a')));
    old.tags[1].image.digest = Some(format!("eclipse-mosquitto@{}", digest('a')));
    new.tags[1].image.digest = Some(format!("eclipse-mosquitto@{}", digest('d')));
    let changes = compare::digest_changes(&old, &new);
    assert_eq!(changes.len(), 1, "the same content under another repository is no change: {changes:?}");
    assert_eq!((changes[0].tag.as_str(), changes[0].old.as_str(), changes[0].new.as_str()), ("sid", &*digest('a'), &*digest('d')));
    let text = compare::digest_lines(&changes, true);
    assert_eq!(text, format!("- sid: image digest changed ({} → {})\n", digest('a'), digest('d')));
    assert!(diff(&old, &new).is_empty());
}

#[test]
fn baseline_records_registry_digests_and_leaves_local_image_ids_out() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).expect("matrix.toml");
    let mut r = bookworm_and_sid();
    r.tags[0].image.digest = Some(format!("registry.example/debian@{}", digest('e')));
    r.tags[1].image.digest = Some(digest('f')); // an image id: built here, no registry digest
    let b = baseline::apply(Path::new("matrix.toml"), &text, &r).expect("applies");
    assert_eq!(b.digests, [format!("bookworm: digest (none) -> {}", digest('e'))]);
    assert!(b.text.contains(&format!("[sets.debian.digests]\nbookworm = \"{}\"", digest('e'))), "{}", b.text);
    assert!(b.text.starts_with(&text[..200]), "the rest of the file is kept");
    let reloaded = MatrixFile::parse(Path::new("matrix.toml"), &b.text).expect("still valid");
    let debian = reloaded.set("debian").expect("debian");
    assert_eq!(debian.digests.get("bookworm"), Some(&digest('e')));
    assert_eq!(debian.digests.get("sid"), None);
    // A second baseline of the same result changes nothing.
    let again = baseline::apply(Path::new("matrix.toml"), &b.text, &r).expect("applies");
    assert!(again.digests.is_empty() && again.text == b.text);
}

#[test]
fn each_copy_of_a_run_with_copies_is_compared_with_its_tag_in_a_single_run() {
    let single = bookworm_and_sid();
    let copies = |paho_at: f64| {
        let mut cells = Vec::new();
        for k in 1..=3 {
            for c in &single.cells {
                let mut c = c.clone();
                c.tag = format!("{}#{k}", c.tag);
                if c.tag == "bookworm#2" && c.profile == Profile::PahoJava125.name() {
                    c.verdict.at = Some(Duration::from_secs_f64(paho_at));
                }
                cells.push(c);
            }
        }
        let mut r = result(cells);
        r.copies = 3;
        r
    };
    let close = copies(300.3);
    assert!(compare::diff_within(&single, &close, Duration::from_millis(500)).is_empty());
    assert!(compare::diff_within(&close, &single, Duration::from_millis(500)).is_empty(), "a single run against copies");
    let far = copies(301.0);
    let changes = compare::diff_within(&single, &far, Duration::from_millis(500));
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].cell, "bookworm#2/paho-java-1.2.5");
    assert_eq!(report::text::file_stem(&far), "debian-copies3");
}

/// A Paho-like cell: the broker's PING at `ping`, the client's close frame (ASCII "1000") and
/// the end right after it; or OK with no PING.
fn paho_cell(tag: &str, column: &str, ping: Option<f64>, close: &str) -> CellResult {
    use mosquitto_matrix::judge::record::{Direction, FrameSeen, WireEvent};
    let outcome = if ping.is_some() { Outcome::Eof } else { Outcome::Ok };
    let end = ping.map(|p| p + 0.002).unwrap_or(330.0);
    let mut c = cell(tag, Profile::PahoJava125, outcome, Some(end), "OK", Status::Met);
    c.profile = column.to_string();
    c.verdict.ended_by = Some(Party::Client);
    let mut wire = vec![WireEvent { at: 0.0, from: Party::Broker, what: "MQTT CONNACK 0 (connection accepted)".into() }];
    if let Some(p) = ping {
        let at = |t: f64| Duration::from_secs_f64(t);
        c.verdict.frames = vec![
            FrameSeen { at: at(p), direction: Direction::Received, opcode: 9, payload_len: 0, masked: false },
            FrameSeen { at: at(end), direction: Direction::Sent, opcode: 8, payload_len: 4, masked: true },
        ];
        wire.push(WireEvent { at: p, from: Party::Broker, what: "frame PING (0x9) 0 B unmasked".into() });
    }
    wire.push(WireEvent { at: end, from: Party::Client, what: format!("frame CLOSE (0x8) {close}") });
    c.wire = wire;
    c
}

fn emulation_and_real(real_ping: f64, real_close: &str) -> RunResult {
    let mut r = result(vec![
        paho_cell("bookworm", "paho-java-1.2.5", Some(300.0), "4 B masked: code none, payload \"1000\""),
        paho_cell("bookworm", "paho-java@1.2.5", Some(real_ping), real_close),
        paho_cell("sid", "paho-java-1.2.5", None, "4 B masked: code none, payload \"1000\""),
        paho_cell("sid", "paho-java@1.2.5", None, "4 B masked: code none, payload \"1000\""),
    ]);
    r.profiles = vec!["paho-java-1.2.5".into(), "paho-java@1.2.5".into()];
    r
}

#[test]
fn the_emulation_agrees_with_the_real_client_when_ping_end_and_close_frame_match_within_the_bound() {
    let r = emulation_and_real(299.7, "4 B masked: code none, payload \"1000\"");
    let found = report::agree::agree(&r, "paho-java-1.2.5", "paho-java@1.2.5", Duration::from_millis(500));
    assert!(found.holds(), "{found}");
    assert_eq!(found.compared, ["bookworm", "sid"]);
    assert!(found.to_string().contains("2 of 2 tags agree"), "{found}");
}

#[test]
fn a_ping_outside_the_bound_or_another_close_frame_fails_with_both_transcripts() {
    let late = emulation_and_real(299.2, "4 B masked: code none, payload \"1000\"");
    let found = report::agree::agree(&late, "paho-java-1.2.5", "paho-java@1.2.5", Duration::from_millis(500));
    assert!(!found.holds());
    assert_eq!(found.differences.len(), 1);
    let shown = found.to_string();
    assert!(shown.contains("broker's PING: paho-java-1.2.5 at 300.000 s, paho-java@1.2.5 at 299.200 s"), "{shown}");
    assert!(shown.contains("bookworm/paho-java-1.2.5: EOF") && shown.contains("bookworm/paho-java@1.2.5: EOF"), "{shown}");
    let mut coded = emulation_and_real(299.9, "4 B masked: code 1000, payload \"03e8\"");
    let found = report::agree::agree(&coded, "paho-java-1.2.5", "paho-java@1.2.5", Duration::from_millis(500));
    assert!(found.to_string().contains("client's close frame: paho-java-1.2.5 sent frame CLOSE (0x8) 4 B masked: code none"), "{found}");
    // Without a transcript (a built-in played in process) the frames still tell length and mask.
    coded.cells[0].wire.clear();
    coded.cells[1].verdict.frames[1].payload_len = 2;
    let found = report::agree::agree(&coded, "paho-java-1.2.5", "paho-java@1.2.5", Duration::from_millis(500));
    assert!(found.to_string().contains("paho-java-1.2.5 sent frame CLOSE (0x8) 4 B masked, paho-java@1.2.5 sent frame CLOSE (0x8) 2 B masked"), "{found}");
}

#[test]
fn agreement_needs_at_least_one_tag_with_both_columns() {
    let r = emulation_and_real(300.0, "4 B masked: code none, payload \"1000\"");
    let found = report::agree::agree(&r, "paho-java-1.2.5", "rfc6455", Duration::from_millis(500));
    assert!(!found.holds(), "{found}");
    assert!(found.to_string().contains("paho-java-1.2.5 has a cell and rfc6455 has none"), "{found}");
    let none = report::agree::agree(&r, "tcp", "rfc6455", Duration::from_millis(500));
    assert!(!none.holds() && none.to_string().contains("nothing was compared"), "{none}");
}

/// A cell of `profile` on `route` (`direct` keeps the plain name).
fn on_route(route: &str, mut c: CellResult) -> CellResult {
    if route != "direct" {
        c.profile = format!("{route}/{}", c.profile);
    }
    c.route = route.into();
    c
}

/// bookworm on direct and nginx: nginx ends both sessions at 60 s.
fn direct_and_nginx() -> RunResult {
    let mut r = result(vec![
        cell("bookworm", Profile::PahoJava125, Outcome::Eof, Some(300.0), "EOF@300", Status::Met),
        cell("bookworm", Profile::Rfc6455, Outcome::Ok, Some(330.0), "OK", Status::Met),
        on_route("nginx", cell("bookworm", Profile::PahoJava125, Outcome::Eof, Some(60.0), "EOF", Status::Met)),
        on_route("nginx", cell("bookworm", Profile::Rfc6455, Outcome::Eof, Some(60.2), "EOF", Status::Met)),
    ]);
    r.routes = vec!["direct".into(), "nginx".into()];
    r.profiles = vec!["paho-java-1.2.5".into(), "rfc6455".into(), "nginx/paho-java-1.2.5".into(), "nginx/rfc6455".into()];
    r
}

#[test]
fn a_run_with_routes_groups_its_columns_under_each_route_and_a_direct_only_run_has_no_route_line() {
    let r = direct_and_nginx();
    let view = report::table(&r);
    let route_line = view.lines().find(|l| l.starts_with("route")).unwrap_or_else(|| panic!("no route line:\n{view}"));
    let (direct, nginx) = (route_line.find("direct").expect("direct"), route_line.find("nginx").expect("nginx"));
    assert!(direct < nginx, "{route_line}");
    let heads = view.lines().skip_while(|l| !l.starts_with("route")).nth(1).expect("heads under the route line");
    assert!(heads.starts_with("tag") && !heads.contains("nginx"), "the heads carry the column, the route line the route:\n{view}");
    let page = report::html::html(&r);
    assert!(page.contains(r#"<th class="route" colspan="2">nginx</th>"#), "the HTML grid has a route row");
    let md = report::markdown(&r);
    assert!(md.contains("| nginx/paho-java-1.2.5 | nginx/rfc6455 |"), "{md}");
    let plain = report::table(&bookworm_and_sid());
    assert!(!plain.lines().any(|l| l.starts_with("route")), "{plain}");
    assert!(!report::html::html(&bookworm_and_sid()).contains("class=\"route\""));
    assert_eq!(report::text::file_stem(&r), "debian-routes");
    assert_eq!(report::text::file_stem(&bookworm_and_sid()), "debian");
    let process = RunResult { client_mode: mosquitto_matrix::plan::ClientMode::Process, speed: 10, ..bookworm_and_sid() };
    assert_eq!(report::text::file_stem(&process), "debian-x10-process", "a process-mode run sits beside the runtime-mode one");
}

#[test]
fn a_cell_is_matched_by_tag_column_and_route_in_diff_and_the_json_keeps_its_route() {
    let old = direct_and_nginx();
    let mut new = direct_and_nginx();
    new.cells[3].verdict = verdict(Outcome::Eof, Some(120.4));
    let changes = diff(&old, &new);
    assert_eq!(changes.iter().map(|c| c.cell.as_str()).collect::<Vec<_>>(), ["bookworm/nginx/rfc6455"]);
    let back: RunResult = serde_json::from_str(&report::json(&new)).expect("reads back");
    assert_eq!(back.cells[3].route, "nginx");
    assert_eq!(back.cells[3].column(), "rfc6455");
    assert_eq!(back.routes, ["direct", "nginx"]);
}

#[test]
fn a_result_from_before_routes_reads_as_direct_only() {
    let mut v: serde_json::Value = serde_json::from_str(&report::json(&bookworm_and_sid())).expect("json");
    v["schema_version"] = 2.into();
    v.as_object_mut().expect("an object").remove("routes");
    for c in v["cells"].as_array_mut().expect("cells") {
        c.as_object_mut().expect("a cell").remove("route");
    }
    let r: RunResult = serde_json::from_value(v).expect("a schema 2 result reads");
    assert_eq!(r.routes, ["direct"]);
    assert!(r.cells.iter().all(|c| c.route == "direct"));
    assert!(!r.has_routes());
}

#[test]
fn a_proxy_that_could_not_be_had_is_said_once_for_its_tag_naming_it_with_its_log() {
    let mut r = direct_and_nginx();
    for c in &mut r.cells[2..] {
        c.verdict = verdict::error("not run: proxy nginx 1.22.1-9: the proxy container exited with status 1 before the broker answered through it; last proxy log lines: [emerg] host not found");
        c.status = Status::Error;
    }
    r.tags[0].proxies = vec![mosquitto_matrix::judge::results::ProxyResult {
        proxy: "nginx".into(),
        label: "nginx 1.22.1-9".into(),
        startup_secs: None,
        failure: Some(BrokerFailure { reason: "the proxy container exited with status 1 before the broker answered through it".into(), exit_status: Some(1), log_tail: vec!["[emerg] host not found".into()] }),
    }];
    let lines = report::failures(&r);
    assert_eq!(
        lines,
        ["bookworm: proxy nginx 1.22.1-9: the proxy container exited with status 1 before the broker answered through it — 2 cells not run; last proxy log lines: [emerg] host not found"]
    );
    assert!(report::table(&r).contains("bookworm: proxy nginx 1.22.1-9"), "the terminal view says it too");
}

#[test]
fn baseline_writes_a_route_cell_only_where_it_differs_from_direct() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).expect("matrix.toml");
    let mut r = direct_and_nginx();
    // On tls, rfc6455 holds as on direct (nothing written), paho-java ends at 200 s (written).
    r.cells.truncate(2);
    r.cells.push(on_route("tls", cell("bookworm", Profile::Rfc6455, Outcome::Ok, Some(330.0), "OK", Status::Met)));
    r.cells.push(on_route("tls", cell("bookworm", Profile::PahoJava125, Outcome::Eof, Some(200.2), "EOF@300", Status::Changed)));
    let b = baseline::apply(Path::new("matrix.toml"), &text, &r).expect("applies");
    assert_eq!(b.changed, ["bookworm/tls/paho-java-1.2.5: EOF@300 -> EOF@200"]);
    let reloaded = MatrixFile::parse(Path::new("matrix.toml"), &b.text).expect("still valid");
    let debian = reloaded.set("debian").expect("debian");
    let key = |c: &str| ("tls".to_string(), "bookworm".to_string(), c.to_string());
    assert_eq!(debian.expect_on[&key("paho-java-1.2.5")].to_string(), "EOF@200");
    assert!(!debian.expect_on.contains_key(&key("rfc6455")));
    // Back as direct: the route's own entry goes again.
    r.cells[3].verdict = verdict(Outcome::Eof, Some(300.1));
    let again = baseline::apply(Path::new("matrix.toml"), &b.text, &r).expect("applies");
    assert_eq!(again.changed, ["bookworm/tls/paho-java-1.2.5: EOF@200 -> EOF@300 (as direct; the route's own entry is removed)"]);
    let reloaded = MatrixFile::parse(Path::new("matrix.toml"), &again.text).expect("still valid");
    assert!(!reloaded.set("debian").expect("debian").expect_on.contains_key(&key("paho-java-1.2.5")));
}
