//! matrix.toml: the shipped file is complete, and every user mistake gets the file, the line
//! and what is wrong.

use std::path::Path;

use mosquitto_matrix::plan::{ConfigError, MatrixFile, Plan, Selection, SelectionOrigin};
use mosquitto_matrix::plan::{ClientMode, Column, Profile, Route};
use mosquitto_matrix::plan::Outcome;
use mosquitto_matrix::wire::mqtt::Protocol;
use rstest::rstest;

const SHIPPED: &str = include_str!("../matrix.toml");

fn shipped() -> MatrixFile {
    MatrixFile::parse(Path::new("matrix.toml"), SHIPPED).expect("the shipped matrix.toml loads")
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1).expect("needle is in the text")
}

#[test]
fn the_shipped_file_has_33_eclipse_tags_up_to_2_1_2_alpine_and_4_debian_tags_with_an_expectation_for_every_cell() {
    let f = shipped();
    let eclipse = f.set("eclipse").expect("eclipse set");
    assert_eq!(eclipse.tags.len(), 33);
    assert_eq!(eclipse.tags.first().map(String::as_str), Some("1.6.9"));
    assert!(eclipse.tags.iter().any(|t| t == "2.0.22"));
    assert_eq!(eclipse.tags.last().map(String::as_str), Some("2.1.2-alpine"));
    assert_eq!(eclipse.variants, ["", "-alpine"]);
    let debian = f.set("debian").expect("debian set");
    assert_eq!(debian.tags, ["bullseye", "bookworm", "trixie", "sid"]);
    assert_eq!(debian.variants, [""], "a set without a variants line follows bare tags only");
    for set in [eclipse, debian] {
        for tag in &set.tags {
            for p in &f.columns {
                assert!(set.expectation(tag, p, Route::Direct).is_some(), "{}: no expectation for {tag}/{p}", set.name);
            }
        }
    }
    assert_eq!(f.default_set, "eclipse");
    assert!(f.timing.hold > std::time::Duration::from_secs(300));
}

#[test]
fn the_eclipse_paho_column_is_the_reports_table_eof_from_1_6_15_and_2_0_11_and_ok_again_from_2_1() {
    let f = shipped();
    let eclipse = f.set("eclipse").expect("eclipse set");
    for tag in &eclipse.tags {
        let e = eclipse.expect[&(tag.clone(), Profile::PahoJava125.name().to_string())];
        let number = tag.split('-').next().expect("a release number");
        let v: Vec<u32> = number.split('.').map(|p| p.parse().expect("numeric")).collect();
        // libwebsockets 4.x pings at 300 s; 2.1's built-in WebSocket code does not.
        let lws4 = match (v[0], v[1]) {
            (1, 6) => v[2] >= 15,
            (2, 0) => v[2] >= 11,
            _ => false,
        };
        assert_eq!(e.outcome, if lws4 { Outcome::Eof } else { Outcome::Ok }, "{tag}");
    }
}

#[test]
fn the_debian_set_expects_what_the_reference_measured() {
    let f = shipped();
    let d = f.set("debian").expect("debian set");
    let get = |t: &str, p: Profile| d.expect[&(t.to_string(), p.name().to_string())].to_string();
    for t in ["bullseye", "bookworm", "trixie"] {
        assert_eq!(get(t, Profile::PahoJava125), "EOF@300");
        assert_eq!(get(t, Profile::NoPong), "EOF@310");
        assert_eq!(get(t, Profile::Rfc6455), "OK");
    }
    for p in Profile::ALL {
        assert_eq!(get("sid", p), "OK");
    }
}

#[rstest]
#[case::unknown_profile_in_the_column_list("\"no-pong\",         #", "\"no-pingpong\",     #", "\"no-pingpong\",", "unknown profile \"no-pingpong\"")]
#[case::unknown_profile_in_an_expectation("\"sid\"      = { \"paho-java-1.2.5\"", "\"sid\"      = { \"paho-java-1.2.4\"", "\"sid\"      =", "unknown profile \"paho-java-1.2.4\"")]
#[case::unknown_default_set("default_set = \"eclipse\"", "default_set = \"eclips\"", "default_set", "unknown set \"eclips\"")]
#[case::duplicate_tag("\"2.0.8\", \"2.0.9\"", "\"2.0.8\", \"2.0.8\"", "\"2.0.8\", \"2.0.8\"", "tag \"2.0.8\" is listed twice")]
#[case::hold_at_the_five_minute_mark("hold = \"330s\"", "hold = \"300s\"", "hold = ", "cannot see the 5-minute mark")]
#[case::hold_below_the_five_minute_mark("hold = \"330s\"", "hold = \"4m\"", "hold = ", "a hold must be longer than 300 s")]
#[case::bad_duration_syntax("keepalive = \"60s\"", "keepalive = \"sixty\"", "keepalive = ", "keepalive: \"sixty\" is not a duration")]
#[case::expectation_for_an_unlisted_tag("tags = [\"bullseye\", \"bookworm\", \"trixie\", \"sid\"]", "tags = [\"bullseye\", \"bookworm\", \"trixie\"]", "\"sid\"      =", "expectation for tag \"sid\", which set \"debian\" does not list")]
#[case::bad_expectation_text("\"sid\"      = { \"paho-java-1.2.5\" = \"OK\"", "\"sid\"      = { \"paho-java-1.2.5\" = \"FINE\"", "\"sid\"      =", "\"FINE\" is not an expectation")]
#[case::misspelt_key("late_pong = \"15s\"", "late_ping = \"15s\"", "late_ping", "unknown field `late_ping`")]
#[case::client_named_like_a_built_in_profile("[clients.mqttjs]", "[clients.rfc6455]", "[clients.rfc6455]", "client \"rfc6455\" clashes with the built-in profile")]
#[case::client_with_an_empty_service("service = [\"node\", \"clients/browser/serve.mjs\"]", "service = []", "service = []", "client \"browser\": service is empty")]
#[case::client_with_a_blank_service_program("service = [\"node\", \"clients/browser/serve.mjs\"]", "service = [\" \", \"serve.mjs\"]", "service = [\" \"", "client \"browser\": service is empty")]
#[case::client_with_an_empty_runtime("runtime = [\"target/clients/paho-python/{version}/venv/bin/python\", \"clients/paho-python/runtime.py\"]", "runtime = []", "runtime = []", "client \"paho-python\": runtime is empty")]
#[case::client_with_an_empty_command("command = [\"node\", \"clients/mqttjs/hold.mjs\", \"--lib\", \"target/clients/mqttjs/{version}\"]", "command = []", "command = []", "client \"mqttjs\": command is empty")]
#[case::client_with_an_unknown_transport("command = [\"node\", \"clients/mqttjs/hold.mjs\", \"--lib\", \"target/clients/mqttjs/{version}\"]", "command = [\"node\", \"clients/mqttjs/hold.mjs\", \"--lib\", \"target/clients/mqttjs/{version}\"]\ntransport = \"quic\"", "transport = ", "client \"mqttjs\": transport \"quic\" is not ws or tcp")]
#[case::client_path_without_a_slash("command = [\"node\", \"clients/mqttjs/hold.mjs\", \"--lib\", \"target/clients/mqttjs/{version}\"]", "command = [\"node\", \"clients/mqttjs/hold.mjs\", \"--lib\", \"target/clients/mqttjs/{version}\"]\npath = \"mqtt\"", "path = ", "path \"mqtt\" must start with '/'")]
#[case::client_with_a_misspelt_field("seen_in = \"Go services\"", "seen = \"Go services\"", "seen = ", "unknown field `seen`")]
#[case::column_that_is_neither_a_profile_nor_a_client("  \"paho-go\",         #", "  \"paho-rust\",       #", "\"paho-rust\",", "unknown profile \"paho-rust\"; known profiles and clients:")]
#[case::versions_but_no_placeholder_in_the_command("command = [\"target/clients/paho-java/{version}/hold\"]", "command = [\"target/clients/paho-java/hold\"]", "command = [\"target/clients/paho-java/hold", "client \"paho-java\": versions are given, so its command must say where each goes with {version}")]
#[case::a_placeholder_but_no_versions("command = [\"target/clients/paho-c/hold\"]", "command = [\"target/clients/paho-c/{version}/hold\"]", "command = [\"target/clients/paho-c/{version}", "client \"paho-c\": command has {version} but the client has no versions")]
#[case::a_default_version_that_is_not_offered("default_versions = [\"1.2.5\"]", "default_versions = [\"1.2.6\"]", "default_versions = [\"1.2.6", "default version \"1.2.6\" is not among its versions (1.1.0, 1.1.1")]
#[case::a_version_listed_twice("versions = [\"4.3.8\", \"5.16.0\"]", "versions = [\"4.3.8\", \"4.3.8\"]", "versions = [\"4.3.8\", \"4.3.8", "client \"mqttjs\": version \"4.3.8\" is listed twice")]
#[case::a_version_with_a_space("versions = [\"1.1.1\", \"1.5.1\"]", "versions = [\"1.1.1\", \"1.5 .1\"]", "versions = [\"1.1.1\", \"1.5 .1", "version \"1.5 .1\" may hold only letters, digits")]
#[case::no_versions_at_all("versions = [\"1.1.1\", \"1.5.1\"]", "versions = []", "versions = []", "client \"paho-go\": versions = [] offers no version")]
#[case::an_expectation_for_a_version_not_offered("paho-java = \"EOF@300\", \"paho-java@1.1.1\"", "paho-java = \"EOF@300\", \"paho-java@1.0.2\"", "\"paho-java@1.0.2\"", "unknown profile \"paho-java@1.0.2\"; known profiles and clients:")]
#[case::a_version_and_its_client_both_in_the_columns("  \"paho-c\",          #", "  \"paho-java@1.2.5\", \"paho-c\", #", "\"paho-java@1.2.5\", \"paho-c\"", "profile \"paho-java@1.2.5\" is listed twice")]
#[case::misspelt_set_key("variants = [\"\", \"-alpine\"]", "variant = [\"\", \"-alpine\"]", "variant = [", "unknown field `variant`")]
#[case::variant_without_its_dash("variants = [\"\", \"-alpine\"]", "variants = [\"\", \"alpine\"]", "variants = [", "variant \"alpine\" is not a tag suffix")]
#[case::variant_twice("variants = [\"\", \"-alpine\"]", "variants = [\"-alpine\", \"-alpine\"]", "variants = [", "variant \"-alpine\" is listed twice")]
#[case::no_variant("variants = [\"\", \"-alpine\"]", "variants = []", "variants = [", "follows no variant")]
#[case::digest_for_an_unlisted_tag("[sets.debian.expect]", "[sets.debian.digests]\nbuster = \"sha256:00\"\n\n[sets.debian.expect]", "buster = ", "digest for tag \"buster\", which set \"debian\" does not list")]
#[case::every_column_on_direct("\"sid\"      = { \"paho-java-1.2.5\" = \"OK\"", "\"sid\"      = { \"*\" = \"OK\", \"paho-java-1.2.5\" = \"OK\"", "\"sid\"      =", "unknown profile \"*\"")]
#[case::digest_that_is_not_one("[sets.debian.expect]", "[sets.debian.digests]\nsid = \"sha256:abc\"\n\n[sets.debian.expect]", "sid = \"sha256", "is not \"sha256:\" and 64 hex digits")]
#[case::known_issue_reference_without_a_number("issue = \"eclipse-paho/paho.mqtt.java#912\"", "issue = \"eclipse-paho/paho.mqtt.java\"", "issue = \"eclipse-paho", "is not owner/repository#number")]
#[case::known_issue_for_an_unknown_column("columns = [\"paho-java-1.2.5\", \"paho-java@1.2.5\"]", "columns = [\"paho-jav\"]", "columns = [\"paho-jav\"]", "unknown profile \"paho-jav\"")]
#[case::known_issue_with_no_column("columns = [\"paho-java-1.2.5\", \"paho-java@1.2.5\"]", "columns = []", "columns = []", "columns is empty")]
#[case::known_issue_that_explains_an_ok("outcome = \"EOF@300\"", "outcome = \"OK\"", "outcome = \"OK\"", "outcome \"OK\" is no failure")]
#[case::known_issue_with_a_bad_outcome("outcome = \"EOF@300\"", "outcome = \"EOF at 300\"", "outcome = \"EOF at", "\"EOF at 300\" is not an expectation")]
#[case::known_issue_versions_backwards("versions = [\"2.0.0\", \"2.0.5\"]", "versions = [\"2.0.5\", \"2.0.0\"]", "versions = [\"2.0.5\"", "run backwards")]
#[case::known_issue_versions_not_versions("versions = [\"2.0.0\", \"2.0.5\"]", "versions = [\"2.0\", \"latest\"]", "\"latest\"]", "are not MAJOR.MINOR.PATCH")]
#[case::known_issue_with_one_version("versions = [\"2.0.0\", \"2.0.5\"]", "versions = [\"2.0.0\"]", "versions = [\"2.0.0\"]", "are not two versions")]
#[case::known_issue_with_a_misspelt_field("fixed_in = \"Mosquitto 2.0.6\"", "fixed = \"Mosquitto 2.0.6\"", "fixed = ", "unknown field `fixed`")]
fn a_mistake_in_matrix_toml_names_the_file_the_line_and_what_is_wrong(
    #[case] from: &str,
    #[case] to: &str,
    #[case] line_marker: &str,
    #[case] what: &str,
) {
    assert!(SHIPPED.contains(from), "the shipped file has {from:?}");
    let text = SHIPPED.replacen(from, to, 1);
    let err = MatrixFile::parse(Path::new("matrix.toml"), &text).expect_err("the mistake is refused");
    let line = line_of(&text, line_marker);
    let shown = err.to_string();
    match &err {
        ConfigError::At { line: got, .. } => assert_eq!(*got, line, "{shown}"),
        other => panic!("expected a file:line error, got {other:?}"),
    }
    assert!(shown.starts_with(&format!("matrix.toml:{line}: ")), "{shown}");
    assert!(shown.contains(what), "{shown:?} does not say {what:?}");
}

#[test]
fn the_browser_column_has_a_per_run_service_and_the_other_clients_have_none() {
    let f = shipped();
    for c in &f.clients {
        let want = (c.name == "browser").then(|| vec!["node".to_string(), "clients/browser/serve.mjs".to_string()]);
        assert_eq!(c.service, want, "client {}", c.name);
    }
}

#[test]
fn a_versioned_client_is_one_column_per_default_version_named_client_at_version() {
    let f = shipped();
    let names: Vec<&str> = f.columns.iter().map(|c| c.name()).collect();
    assert!(names.contains(&"paho-java@1.2.5") && !names.contains(&"paho-java@1.2.4"), "{names:?}");
    assert!(names.contains(&"paho-python@2.2.0") && names.contains(&"paho-python@1.6.1"), "{names:?}");
    assert!(names.contains(&"paho-golang@0.23.0") && names.contains(&"paho-java-v5@1.2.5"), "the new clients run by default: {names:?}");
    assert!(!names.iter().any(|n| *n == "paho-java" || *n == "paho-python-1.6"), "{names:?}");
    let java = f.versioned.iter().find(|v| v.client == "paho-java").expect("paho-java has versions");
    assert_eq!(java.versions.len(), 8);
    assert_eq!(java.defaults, ["1.2.5"]);
    let every = f.clients.iter().find(|c| c.name == "paho-java@1.1.0").expect("every version is a client");
    assert_eq!(every.command, ["target/clients/paho-java/1.1.0/hold"]);
    assert!(every.description.as_deref().is_some_and(|d| d.contains("mqttv3 1.1.0")), "{:?}", every.description);
}

#[test]
fn an_expectation_for_a_client_applies_to_every_version_unless_one_names_the_version() {
    let f = shipped();
    let d = f.set("debian").expect("debian set");
    let get = |t: &str, c: &str| d.expect[&(t.to_string(), c.to_string())].to_string();
    assert_eq!(get("bookworm", "paho-java@1.2.5"), "EOF@300");
    assert_eq!(get("bookworm", "paho-java@1.1.0"), "EOF@300");
    assert_eq!(get("bookworm", "paho-java@1.2.1"), "EOF@1");
    assert_eq!(get("sid", "paho-java@1.2.5"), "OK");
    assert_eq!(get("sid", "paho-java@1.1.1"), "EOF@1");
    // The version wins wherever it stands in the row, before its client or after it.
    let text = SHIPPED.replacen(
        "paho-java = \"EOF@300\", \"paho-java@1.1.1\" = \"EOF@1\"",
        "\"paho-java@1.1.1\" = \"EOF@1\", paho-java = \"EOF@300\"",
        1,
    );
    assert_ne!(text, SHIPPED);
    let moved = MatrixFile::parse(Path::new("matrix.toml"), &text).expect("still valid");
    let first = &moved.sets[0];
    let tag = first.tags.iter().find(|t| first.expect[&((*t).clone(), "paho-java@1.2.5".to_string())].to_string() == "EOF@300").expect("a tag with EOF");
    assert_eq!(first.expect[&(tag.clone(), "paho-java@1.1.1".to_string())].to_string(), "EOF@1");
}

#[test]
fn client_versions_all_widens_every_versioned_client_in_its_place() {
    let sel = Selection { set: Some("debian".into()), client_versions: Some("all".into()), ..Selection::default() };
    let plan = Plan::new(&shipped(), &sel).expect("all versions");
    let names: Vec<&str> = plan.columns.iter().map(|c| c.name()).collect();
    let java: Vec<&str> = names.iter().copied().filter(|n| n.starts_with("paho-java@")).collect();
    assert_eq!(java.len(), 8);
    let first_java = names.iter().position(|n| n.starts_with("paho-java@")).expect("java columns");
    assert_eq!(names[first_java + 7], "paho-java@1.2.5", "the versions stand together, in file order: {names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("paho-python@") && !n.contains("+v")).count(), 5);
    assert!(plan.cells.iter().all(|c| c.expect.is_some()), "every version of every column has an expectation");
    let only = Selection { profiles: Some(vec!["tcp".into()]), client_versions: Some("all".into()), ..sel };
    let plan = Plan::new(&shipped(), &only).expect("all of none");
    assert_eq!(plan.columns.iter().map(|c| c.name()).collect::<Vec<_>>(), ["tcp"], "all adds no client the run does not have");
}

#[test]
fn client_versions_as_a_list_runs_exactly_those_versions_and_adds_a_client_the_run_lacks() {
    let sel = Selection {
        set: Some("debian".into()),
        profiles: Some(vec!["tcp".into(), "paho-java".into()]),
        client_versions: Some("paho-java@1.1.0, paho-java@1.2.5, mqttjs@*".into()),
        ..Selection::default()
    };
    let plan = Plan::new(&shipped(), &sel).expect("a list");
    let names: Vec<&str> = plan.columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["tcp", "paho-java@1.1.0", "paho-java@1.2.5", "mqttjs@4.3.8", "mqttjs@5.16.0"]);
}

#[test]
fn a_bad_client_version_names_the_variable_and_what_is_offered() {
    let at = |v: &str, origin| Plan::new(&shipped(), &Selection { client_versions: Some(v.into()), origin, ..Selection::default() });
    let err = at("paho-java@1.0.2;x", SelectionOrigin::Environment).expect_err("not a version");
    assert!(err.to_string().starts_with("MATRIX_CLIENT_VERSIONS: \"paho-java\": \"1.0.2;x\" is not a version"), "{err}");
    let err = at("paho-c@1.3.12", SelectionOrigin::CommandLine).expect_err("no versions");
    assert!(err.to_string().starts_with("--client-versions: \"paho-c\" is not a client with versions"), "{err}");
    let err = at("1.2.5", SelectionOrigin::CommandLine).expect_err("no client");
    assert!(err.to_string().contains("write all, or X@VERSION or X@*"), "{err}");
}

#[test]
fn a_released_version_matrix_toml_does_not_list_runs_on_demand_as_a_column_of_its_clients_table() {
    let sel = Selection { profiles: Some(vec!["tcp".into()]), client_versions: Some("paho-java@1.0.2,paho-python@2.2.0".into()), ..Selection::default() };
    let file = shipped();
    let plan = Plan::new(&file, &sel).expect("a version on demand");
    let names: Vec<&str> = plan.columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["tcp", "paho-java@1.0.2", "paho-python@2.2.0"]);
    let Column::Command(k) = &plan.columns[1] else { panic!("a command column") };
    assert_eq!(k.command, ["target/clients/paho-java/1.0.2/hold"]);
    assert_eq!(k.artefact.as_deref(), Some("target/clients/paho-java/1.0.2/artefact"));
    let wanted = mosquitto_matrix::plan::ondemand::in_columns(&plan.columns, &file.versioned);
    assert_eq!(wanted.iter().map(|w| w.name()).collect::<Vec<_>>(), ["paho-java@1.0.2"], "only the unlisted version is installed on demand");
    assert_eq!(wanted[0].lock_file(), "target/clients/locks/paho-java/1.0.2/lock.txt");
}

#[test]
fn a_versioned_client_named_in_profiles_means_its_default_versions() {
    let sel = Selection { profiles: Some(vec!["paho-python".into(), "paho-java@1.2.0".into()]), ..Selection::default() };
    let plan = Plan::new(&shipped(), &sel).expect("plan");
    let names: Vec<&str> = plan.columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["paho-python@2.2.0", "paho-python@1.6.1", "paho-java@1.2.0"]);
}

#[test]
fn the_shipped_file_names_the_upstream_issues_behind_paho_javas_ping_drop_and_mqttjss_fragmented_connect() {
    let f = shipped();
    let issues: Vec<(&str, &str)> = f.known_issues.iter().map(|k| (k.issue.as_str(), k.outcome.as_str())).collect();
    assert_eq!(issues, [("eclipse-paho/paho.mqtt.java#912", "EOF@300"), ("eclipse-mosquitto/mosquitto#1974", "EOF@0")]);
    let mosquitto = &f.known_issues[1];
    assert_eq!(mosquitto.columns, ["mqttjs"]);
    assert_eq!(mosquitto.versions, Some(["2.0.0".to_string(), "2.0.5".to_string()]));
    assert_eq!(mosquitto.fixed_in.as_deref(), Some("Mosquitto 2.0.6"));
    assert_eq!(mosquitto.url(), "https://github.com/eclipse-mosquitto/mosquitto/issues/1974");
    let plan = Plan::new(&f, &Selection { set: Some("debian".into()), ..Selection::default() }).expect("a plan");
    assert_eq!(plan.known_issues, f.known_issues, "the plan carries them to the run's result");
}

#[test]
fn an_unknown_set_from_the_environment_names_the_variable_and_the_known_sets() {
    let sel = Selection { set: Some("ubuntu".into()), ..Selection::default() };
    let err = Plan::new(&shipped(), &sel).expect_err("unknown set");
    assert_eq!(err.to_string(), "MATRIX_SET: unknown set \"ubuntu\"; this file defines: eclipse, debian, musl");
}

#[test]
fn an_unknown_profile_on_the_command_line_names_the_flag() {
    let sel = Selection { profiles: Some(vec!["paho".into()]), origin: SelectionOrigin::CommandLine, ..Selection::default() };
    let err = Plan::new(&shipped(), &sel).expect_err("unknown profile");
    assert!(err.to_string().starts_with("--profiles: unknown profile \"paho\""), "{err}");
}

#[test]
fn an_ad_hoc_client_with_a_taken_name_is_refused_naming_the_flag() {
    let mine = mosquitto_matrix::plan::CommandClient::parse_ad_hoc("rfc6455=./my-app").expect("well formed");
    let sel = Selection { clients: vec![mine], origin: SelectionOrigin::CommandLine, ..Selection::default() };
    let err = Plan::new(&shipped(), &sel).expect_err("a built-in name is taken");
    assert_eq!(err.to_string(), "--client: \"rfc6455\" is already a column name; choose another");
}

#[test]
fn an_ad_hoc_client_runs_after_the_files_columns_with_no_expectation() {
    let mine = mosquitto_matrix::plan::CommandClient::parse_ad_hoc("my-app=java -jar app.jar").expect("well formed");
    let sel = Selection { set: Some("debian".into()), clients: vec![mine], ..Selection::default() };
    let plan = Plan::new(&shipped(), &sel).expect("a new column");
    assert_eq!(plan.columns.last().map(|c| c.name()), Some("my-app"));
    assert!(plan.cells.iter().filter(|c| c.column.name() == "my-app").all(|c| c.expect.is_none()));
}

#[test]
fn a_speed_is_a_whole_number_up_to_sixty_and_a_bad_one_names_the_variable() {
    let at = |s: &str| Plan::new(&shipped(), &Selection { speed: Some(s.into()), ..Selection::default() });
    assert_eq!(at("10").expect("x10").speed, 10);
    assert_eq!(at("x30").expect("x30").speed, 30);
    let err = at("fast").expect_err("not a number");
    assert!(err.to_string().starts_with("MATRIX_SPEED: \"fast\" is not a speed"), "{err}");
    assert!(at("61").is_err() && at("0").is_err());
}

#[test]
fn an_accelerated_plan_keeps_every_column_of_the_real_time_plan_go_clients_included() {
    let sel = Selection { set: Some("debian".into()), speed: Some("10".into()), ..Selection::default() };
    let fast = Plan::new(&shipped(), &sel).expect("x10");
    let real_time = Plan::new(&shipped(), &Selection { set: Some("debian".into()), ..Selection::default() }).expect("x1");
    let names = |p: &Plan| p.columns.iter().map(|c| c.name().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&fast), names(&real_time));
    assert!(fast.left_out.is_empty(), "{:?}", fast.left_out);
    assert!(names(&fast).iter().any(|n| n == "paho-go@1.1.1") && names(&fast).iter().any(|n| n == "paho-golang@0.23.0"));
}

#[test]
fn a_short_hold_from_the_environment_is_allowed_and_marks_the_plan() {
    let sel = Selection { set: Some("debian".into()), hold: Some("20s".into()), ..Selection::default() };
    let plan = Plan::new(&shipped(), &sel).expect("a quick look is allowed");
    assert_eq!(plan.timing.hold, std::time::Duration::from_secs(20));
    assert!(!plan.reaches_five_minute_mark());
}

#[test]
fn a_tag_not_in_the_file_runs_with_no_expectation() {
    let sel = Selection { set: Some("eclipse".into()), tags: Some(vec!["2.0.23".into(), "2.0.15".into()]), ..Selection::default() };
    let plan = Plan::new(&shipped(), &sel).expect("plan");
    assert!(plan.cells.iter().filter(|c| c.tag == "2.0.23").all(|c| c.expect.is_none()));
    assert!(plan.cells.iter().filter(|c| c.tag == "2.0.15").all(|c| c.expect.is_some()));
}

#[test]
fn shards_cover_every_cell_exactly_once() {
    let plan = Plan::new(&shipped(), &Selection::default()).expect("plan");
    let mut seen: Vec<String> = Vec::new();
    for i in 1..=3 {
        let part = plan.clone().shard(format!("{i}/3").parse().expect("valid shard"));
        seen.extend(part.cells.iter().map(|c| c.id()));
    }
    let mut all: Vec<String> = plan.cells.iter().map(|c| c.id()).collect();
    all.sort();
    seen.sort();
    assert_eq!(seen, all);
    assert!("0/3".parse::<mosquitto_matrix::plan::Shard>().is_err());
    assert!("4/3".parse::<mosquitto_matrix::plan::Shard>().is_err());
}

#[test]
fn digests_recorded_by_a_baseline_reach_the_plan() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let text = SHIPPED.replacen("[sets.debian.expect]", &format!("[sets.debian.digests]\nsid = \"{digest}\"\n\n[sets.debian.expect]"), 1);
    let f = MatrixFile::parse(Path::new("matrix.toml"), &text).expect("a digests table loads");
    assert_eq!(f.set("debian").expect("debian").digests.get("sid"), Some(&digest));
    let plan = Plan::new(&f, &Selection { set: Some("debian".into()), ..Selection::default() }).expect("plan");
    assert_eq!(plan.digests.get("sid"), Some(&digest));
}

#[test]
fn a_plan_names_each_transport_its_columns_use_once() {
    use mosquitto_matrix::plan::Transport;
    let plan = |profiles: &[&str]| {
        let sel = Selection { profiles: Some(profiles.iter().map(|p| p.to_string()).collect()), ..Selection::default() };
        Plan::new(&shipped(), &sel).expect("plan").transports()
    };
    assert_eq!(plan(&["rfc6455", "no-pong", "tcp"]), [Transport::Ws, Transport::Tcp]);
    assert_eq!(plan(&["tcp"]), [Transport::Tcp]);
    assert_eq!(plan(&["rumqttc"]), [Transport::Ws]);
}

#[test]
fn an_mqtt_5_only_client_runs_once_under_both_versions_and_its_3_1_1_twin_is_left_out_saying_why() {
    let sel = Selection {
        set: Some("debian".into()),
        profiles: Some(vec!["paho-golang".into(), "paho-java-v5".into()]),
        protocols: Some(vec!["3.1.1".into(), "5".into()]),
        ..Selection::default()
    };
    let plan = Plan::new(&shipped(), &sel).expect("a plan under both versions");
    let names: Vec<&str> = plan.columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["paho-golang@0.23.0", "paho-java-v5@1.2.5"]);
    assert!(plan.columns.iter().all(|c| c.protocol() == Protocol::V5));
    let left: Vec<&str> = plan.left_out.iter().map(|l| l.column.as_str()).collect();
    assert_eq!(left, ["paho-golang@0.23.0+v3.1.1", "paho-java-v5@1.2.5+v3.1.1"]);
    assert!(plan.left_out[0].why.contains("speaks MQTT 5 only"), "{}", plan.left_out[0].why);
}

#[test]
fn protocol_3_1_1_and_5_runs_each_column_twice_with_the_twins_expectation_and_leaves_rumqttc_out() {
    let sel = Selection {
        set: Some("debian".into()),
        profiles: Some(vec!["rfc6455".into(), "rumqttc".into(), "paho-python".into()]),
        protocols: Some(vec!["3.1.1".into(), "5".into()]),
        ..Selection::default()
    };
    let plan = Plan::new(&shipped(), &sel).expect("a plan under both versions");
    let names: Vec<&str> = plan.columns.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["rfc6455", "rfc6455+v5", "rumqttc", "paho-python@2.2.0", "paho-python@2.2.0+v5", "paho-python@1.6.1", "paho-python@1.6.1+v5"]
    );
    assert_eq!(plan.columns[1].protocol(), Protocol::V5);
    assert_eq!(plan.columns[1].base().name(), "rfc6455");
    assert_eq!(plan.left_out.len(), 1);
    assert_eq!(plan.left_out[0].column, "rumqttc+v5");
    assert!(plan.left_out[0].why.contains("MQTT 3.1.1 client only"), "{}", plan.left_out[0].why);
    let expect = |tag: &str, column: &str| plan.cells.iter().find(|c| c.tag == tag && c.column.name() == column).and_then(|c| c.expect);
    assert_eq!(expect("bookworm", "rfc6455+v5"), expect("bookworm", "rfc6455"));
    assert!(expect("bookworm", "rfc6455+v5").is_some());
}

#[test]
fn a_column_at_5_is_a_column_of_its_own_and_a_bad_version_names_the_variable() {
    let sel = Selection { set: Some("debian".into()), profiles: Some(vec!["no-pong+v5".into()]), ..Selection::default() };
    let plan = Plan::new(&shipped(), &sel).expect("no-pong+v5 is a column");
    assert_eq!((plan.columns[0].name(), plan.columns[0].protocol()), ("no-pong+v5", Protocol::V5));
    let sel = Selection { profiles: Some(vec!["rumqttc+v5".into()]), ..Selection::default() };
    assert!(Plan::new(&shipped(), &sel).is_err(), "rumqttc has no MQTT 5 column");
    let sel = Selection { protocols: Some(vec!["4".into(), "6".into()]), ..Selection::default() };
    let err = Plan::new(&shipped(), &sel).expect_err("6 is no MQTT version");
    assert!(err.to_string().contains("MATRIX_PROTOCOL") && err.to_string().contains("\"6\" is not an MQTT version"), "{err}");
}

#[test]
fn a_client_declares_its_protocol_in_matrix_toml() {
    let text = SHIPPED.replacen("[clients.paho-go]\n", "[clients.paho-go]\nprotocol = \"5\"\n", 1);
    let f = MatrixFile::parse(Path::new("matrix.toml"), &text).expect("protocol = \"5\" is allowed");
    let go = f.clients.iter().find(|c| c.name.starts_with("paho-go@")).expect("the client, in each version");
    assert_eq!(go.protocol, Protocol::V5);
    let text = SHIPPED.replacen("[clients.paho-go]\n", "[clients.paho-go]\nprotocol = \"3\"\n", 1);
    let err = MatrixFile::parse(Path::new("matrix.toml"), &text).expect_err("3 is no MQTT version");
    assert!(err.to_string().contains("client \"paho-go\": protocol \"3\" is not \"3.1.1\" or \"5\""), "{err}");
}

#[test]
fn copies_make_rows_tag_hash_k_each_with_its_tags_expectations() {
    let sel = Selection { set: Some("debian".into()), copies: Some("8".into()), ..Selection::default() };
    let plan = Plan::new(&shipped(), &sel).expect("eight copies");
    assert_eq!(plan.tags.len(), 32);
    assert_eq!(plan.tags[..3], ["bullseye#1", "bullseye#2", "bullseye#3"]);
    assert_eq!(plan.cells.len(), 32 * plan.columns.len());
    let paho = |row: &str| plan.cells.iter().find(|c| c.tag == row && c.column.name() == "paho-java-1.2.5").and_then(|c| c.expect);
    assert_eq!(paho("bookworm#7").map(|e| e.outcome), Some(Outcome::Eof));
    assert_eq!(paho("sid#2").map(|e| e.outcome), Some(Outcome::Ok));
    let one = Plan::new(&shipped(), &Selection { set: Some("debian".into()), ..Selection::default() }).expect("one copy");
    assert_eq!(one.tags, ["bullseye", "bookworm", "trixie", "sid"], "one copy keeps the plain tags");
}

#[test]
fn a_runtime_gets_its_version_like_the_command_and_the_client_mode_is_runtime_unless_asked_otherwise() {
    let plan = Plan::new(&shipped(), &Selection { set: Some("debian".into()), profiles: Some(vec!["paho-python".into()]), ..Selection::default() }).expect("plan");
    assert_eq!(plan.client_mode, ClientMode::Runtime);
    let Column::Command(c) = &plan.columns[0] else { panic!("a command column: {:?}", plan.columns[0]) };
    assert_eq!(c.name, "paho-python@2.2.0");
    assert_eq!(c.runtime.as_deref(), Some(&["target/clients/paho-python/2.2.0/venv/bin/python".to_string(), "clients/paho-python/runtime.py".to_string()][..]));
    let process = Plan::new(&shipped(), &Selection { client_mode: Some("process".into()), ..Selection::default() }).expect("plan");
    assert_eq!(process.client_mode, ClientMode::Process);
    let bad = Plan::new(&shipped(), &Selection { client_mode: Some("threads".into()), ..Selection::default() }).expect_err("no such mode");
    assert_eq!(bad.to_string(), "MATRIX_CLIENT_MODE: \"threads\" is not a client mode; write runtime or process");
}

#[test]
fn a_bad_number_of_copies_or_jobs_names_the_variable_and_the_range() {
    let copies = Plan::new(&shipped(), &Selection { copies: Some("lots".into()), ..Selection::default() }).expect_err("not a number");
    assert!(copies.to_string().starts_with("MATRIX_COPIES: \"lots\" is not a number of copies"), "{copies}");
    let jobs = Plan::new(&shipped(), &Selection { jobs: Some("0".into()), ..Selection::default() }).expect_err("zero");
    assert!(jobs.to_string().starts_with("MATRIX_JOBS: \"0\" is not a number of jobs"), "{jobs}");
    let plan = Plan::new(&shipped(), &Selection { jobs: Some("1".into()), ..Selection::default() }).expect("one job");
    assert_eq!(plan.jobs, Some(1));
}

#[test]
fn a_clients_declared_cost_is_read_and_a_bad_one_names_its_line() {
    use mosquitto_matrix::plan::Cost;
    let f = shipped();
    let mqttjs = f.clients.iter().find(|c| c.name == "mqttjs@5.16.0").expect("mqttjs@5.16.0");
    assert_eq!(mqttjs.cost, Some(Cost { start_cpu: std::time::Duration::from_millis(210), memory_mb: 68 }));
    assert_eq!(Cost::of(&Column::Command(mqttjs.clone()), false).memory_mb, 68);
    // Inside its runtime: the default, unless the column declares its own.
    assert_eq!(Cost::in_runtime(&Column::Command(mqttjs.clone())), Cost::RUNTIME_CELL);
    let hivemq = f.clients.iter().find(|c| c.name.starts_with("hivemq")).expect("hivemq");
    assert_eq!(Cost::in_runtime(&Column::Command(hivemq.clone())), Cost { start_cpu: std::time::Duration::from_millis(100), memory_mb: 9 });
    let bad = SHIPPED.replacen("cost = { start_cpu = \"210ms\", memory_mb = 68 }", "cost = { start_cpu = \"soon\", memory_mb = 68 }", 1);
    let err = MatrixFile::parse(Path::new("matrix.toml"), &bad).expect_err("a bad cost");
    let line = line_of(&bad, "start_cpu = \"soon\"");
    assert!(err.to_string().starts_with(&format!("matrix.toml:{line}: client \"mqttjs\": cost: start_cpu")), "{err}");
    let huge = SHIPPED.replacen("memory_mb = 68 }", "memory_mb = 0 }", 1);
    let err = MatrixFile::parse(Path::new("matrix.toml"), &huge).expect_err("no memory");
    assert!(err.to_string().contains("memory_mb = 0 is not a number of megabytes"), "{err}");
}

#[test]
fn a_run_takes_the_direct_route_only_unless_asked_so_its_cells_keep_their_names() {
    let plan = Plan::new(&shipped(), &Selection { set: Some("debian".into()), ..Selection::default() }).expect("a plan");
    assert_eq!(plan.routes, [Route::Direct]);
    assert_eq!(plan.keys(), plan.columns.iter().map(|c| c.name().to_string()).collect::<Vec<_>>());
    assert!(plan.cells.iter().all(|c| c.id() == format!("{}/{}", c.tag, c.column.name())));
    assert!(plan.left_out.iter().all(|l| !l.why.contains("route")));
}

#[test]
fn routes_multiply_the_websocket_columns_and_tcp_runs_on_direct_only_said_once() {
    let sel = Selection { set: Some("debian".into()), routes: Some(vec!["direct".into(), "tls".into(), "nginx".into()]), ..Selection::default() };
    let plan = Plan::new(&shipped(), &sel).expect("a plan");
    let ws = plan.columns.iter().filter(|c| c.name() != "tcp").count();
    assert!(plan.columns.iter().any(|c| c.name() == "tcp"));
    assert_eq!(plan.cells.len(), plan.tags.len() * (plan.columns.len() + 2 * ws));
    assert!(plan.cells.iter().any(|c| c.id() == "bookworm/nginx/paho-java-1.2.5"));
    assert!(plan.cells.iter().any(|c| c.id() == "bookworm/tcp"));
    assert!(!plan.cells.iter().any(|c| c.id().ends_with("/tls/tcp") || c.id().ends_with("/nginx/tcp")));
    let tcp: Vec<_> = plan.left_out.iter().filter(|l| l.column == "tcp").collect();
    assert_eq!(tcp.len(), 1, "{:?}", plan.left_out);
    assert!(tcp[0].why.contains("direct route only") && tcp[0].why.contains("tls, nginx"), "{}", tcp[0].why);
    assert!(plan.needs_tls());
    assert_eq!(plan.proxies().iter().map(|p| p.name()).collect::<Vec<_>>(), ["nginx"]);
}

#[rstest]
#[case::environment(SelectionOrigin::Environment, "MATRIX_ROUTES")]
#[case::command_line(SelectionOrigin::CommandLine, "--routes")]
fn an_unknown_route_is_an_error_naming_it_and_every_known_one(#[case] origin: SelectionOrigin, #[case] name: &str) {
    let sel = Selection { routes: Some(vec!["direct".into(), "ngnix".into()]), origin, ..Selection::default() };
    let e = Plan::new(&shipped(), &sel).expect_err("an unknown route").to_string();
    assert_eq!(
        e,
        format!("{name}: unknown route \"ngnix\"; known routes: direct, tls, nginx, nginx-tls, haproxy, haproxy-tls, caddy, caddy-tls, apache, apache-tls")
    );
}

/// The shipped file with a `[sets.debian.expect_on.caddy]` table appended.
fn with_route_table(table: &str) -> String {
    format!("{SHIPPED}\n[sets.debian.expect_on.caddy]\n{table}\n")
}

#[test]
fn a_route_table_says_only_where_the_route_differs_a_tag_row_before_the_every_tag_row() {
    let text = with_route_table("\"*\" = { rfc6455 = \"EOF@60\", paho-java = \"EOF@60\" }\n\"sid\" = { rfc6455 = \"OK\", \"*\" = \"CLOSED\" }");
    let f = MatrixFile::parse(Path::new("matrix.toml"), &text).expect("valid");
    let debian = f.set("debian").expect("debian");
    let nginx = Route::from_name("caddy").expect("a route");
    let column = |n: &str| {
        let sel = Selection { set: Some("debian".into()), profiles: Some(vec![n.into()]), ..Selection::default() };
        Plan::new(&f, &sel).expect("a plan").columns.remove(0)
    };
    let at = |tag: &str, col: &str, route: Route| debian.expectation(tag, &column(col), route).map(|e| e.to_string());
    assert_eq!(at("bookworm", "rfc6455", nginx).as_deref(), Some("EOF@60"), "the every-tag row");
    assert_eq!(at("sid", "rfc6455", nginx).as_deref(), Some("OK"), "the tag's own row wins");
    assert_eq!(at("bookworm", "paho-java@1.2.5", nginx).as_deref(), Some("EOF@60"), "a client's name sets each version");
    assert_eq!(at("bookworm", "no-pong", nginx).as_deref(), Some("EOF@310"), "direct's where the route says nothing");
    assert_eq!(at("sid", "no-pong", nginx).as_deref(), Some("CLOSED"), "the tag row's every-column entry");
    assert_eq!(at("sid", "paho-java@1.2.5", nginx).as_deref(), Some("CLOSED"), "the tag's row before the every-tag row");
    assert_eq!(at("bookworm", "rfc6455", Route::Tls).as_deref(), Some("OK"), "another route is not touched");
    assert_eq!(at("bookworm", "rfc6455", Route::Direct).as_deref(), Some("OK"));
}

#[rstest]
#[case::unknown_route("[sets.debian.expect_on.nginxx]\n\"*\" = { rfc6455 = \"OK\" }", "[sets.debian.expect_on.nginxx]", "unknown route \"nginxx\"; known routes: direct, tls")]
#[case::direct_is_the_expect_table("[sets.debian.expect_on.direct]\n\"*\" = { rfc6455 = \"OK\" }", "[sets.debian.expect_on.direct]", "direct's expectations are [sets.debian.expect]")]
#[case::unlisted_tag("[sets.debian.expect_on.tls]\n\"buster\" = { rfc6455 = \"OK\" }", "\"buster\"", "tag \"buster\", which set \"debian\" does not list")]
#[case::tcp_off_direct("[sets.debian.expect_on.tls]\n\"*\" = { tcp = \"OK\" }", "tcp = ", "the tcp column runs on the direct route only")]
#[case::bad_expectation("[sets.debian.expect_on.tls]\n\"*\" = { rfc6455 = \"FINE\" }", "FINE", "\"FINE\" is not an expectation")]
#[case::routes_with_an_unknown_name("routes = [\"direct\", \"ha-proxy\"]", "ha-proxy", "routes: unknown route \"ha-proxy\"")]
#[case::routes_twice("routes = [\"tls\", \"tls\"]", "routes = ", "routes: route \"tls\" is listed twice")]
fn a_mistake_in_the_routes_is_reported_with_its_line(#[case] added: &str, #[case] needle: &str, #[case] message: &str) {
    // `routes = [...]` goes at the top (a file-wide key), tables at the end.
    let text = if added.starts_with("routes") { SHIPPED.replacen("routes = [\"direct\"]", added, 1) } else { format!("{SHIPPED}\n{added}\n") };
    let e = MatrixFile::parse(Path::new("matrix.toml"), &text).expect_err("a mistake");
    let ConfigError::At { line, what, .. } = &e else { panic!("not at a line: {e}") };
    assert!(what.contains(message), "{what}");
    assert_eq!(*line, line_of(&text[text.find(added).unwrap_or(0)..], needle) + text[..text.find(added).unwrap_or(0)].matches('\n').count(), "{e}");
}

#[test]
fn a_set_runs_its_own_routes_unless_the_run_names_others() {
    let text = SHIPPED.replacen("tags = [\"bullseye\", \"bookworm\", \"trixie\", \"sid\"]", "tags = [\"bullseye\", \"bookworm\", \"trixie\", \"sid\"]\nroutes = [\"direct\", \"haproxy-tls\"]", 1);
    let f = MatrixFile::parse(Path::new("matrix.toml"), &text).expect("valid");
    let plan = Plan::new(&f, &Selection { set: Some("debian".into()), ..Selection::default() }).expect("a plan");
    assert_eq!(plan.routes.iter().map(|r| r.name()).collect::<Vec<_>>(), ["direct", "haproxy-tls"]);
    let asked = Selection { set: Some("debian".into()), routes: Some(vec!["tls".into()]), ..Selection::default() };
    let plan = Plan::new(&f, &asked).expect("a plan");
    assert_eq!(plan.routes, [Route::Tls]);
    assert!(plan.cells.iter().all(|c| c.id().contains("/tls/")));
    assert!(plan.left_out.iter().any(|l| l.column == "tcp" && l.why.contains("which this run leaves out")));
}

#[test]
fn a_client_on_its_own_real_clock_is_held_to_the_tolerance_times_the_speed_as_diff_holds_it() {
    let sel = Selection { set: Some("debian".into()), profiles: Some(vec!["tcp".into(), "paho-golang".into()]), speed: Some("30".into()), ..Selection::default() };
    let plan = Plan::new(&shipped(), &sel).expect("a plan at x30");
    let column = |name: &str| plan.columns.iter().find(|c| c.name().starts_with(name)).unwrap_or_else(|| panic!("{name} in {:?}", plan.columns));
    assert_eq!(plan.tolerance_for(column("tcp")), plan.tolerance, "a column on the brokers' clock");
    assert_eq!(plan.tolerance_for(column("paho-golang")), plan.tolerance * 30, "Go reads the clock without the time library");
    let at_one = Plan::new(&shipped(), &Selection { speed: None, ..sel }).expect("a plan at x1");
    let golang = at_one.columns.iter().find(|c| c.name().starts_with("paho-golang")).expect("paho-golang");
    assert_eq!(at_one.tolerance_for(golang), at_one.tolerance, "at x1 every clock is real");
}
