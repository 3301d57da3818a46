//! The command line as a user and a CI job meet it: usage errors, exit statuses, what
//! `baseline`, `diff` and `merge` accept, the selection rules and the environment, on the
//! committed results in tests/data/. No Docker: every child gets an engine address that does
//! not exist, so a run that got past its checks would fail at once instead of starting brokers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mosquitto_matrix::judge::results::{RunResult, Status};
use mosquitto_matrix::judge::verdict;
use mosquitto_matrix::plan::{Expectation, MatrixFile, Outcome, Plan, Selection, SelectionOrigin};
use mosquitto_matrix::report::exit;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The CLI, with the repository's matrix.toml and an engine that does not exist.
fn cli() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("mosquitto-matrix"));
    c.current_dir(root()).env("DOCKER_HOST", "unix:///nonexistent/docker.sock").stdin(Stdio::null());
    for var in mosquitto_matrix::plan::SELECTION_VARS.iter().chain(&[mosquitto_matrix::plan::CONFIG_VAR]) {
        c.env_remove(var);
    }
    c
}

struct Said {
    status: i32,
    stdout: String,
    stderr: String,
}

fn run(c: &mut Command) -> Said {
    let out = c.output().expect("the CLI runs");
    Said {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh folder of this test's own, removed when the test ends.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("matrix-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    Scratch(dir)
}

fn debian() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("tests/data/debian.json")).expect("tests/data/debian.json")).expect("JSON")
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(v).expect("JSON")).expect("write");
    path
}

/// A copy of matrix.toml in the folder, for `baseline` to edit.
fn matrix_copy(dir: &Path) -> PathBuf {
    let path = dir.join("matrix.toml");
    std::fs::copy(root().join("matrix.toml"), &path).expect("copy matrix.toml");
    path
}

#[test]
fn a_usage_error_exits_64_with_clap_s_message_and_help_and_version_exit_0() {
    let bad = run(cli().args(["run", "--no-such-flag"]));
    assert_eq!(bad.status, i32::from(exit::USAGE), "{}", bad.stderr);
    assert!(bad.stderr.contains("unexpected argument '--no-such-flag'"), "{}", bad.stderr);
    let missing = run(cli().arg("diff"));
    assert_eq!(missing.status, i32::from(exit::USAGE), "{}", missing.stderr);
    let help = run(cli().arg("--help"));
    assert_eq!(help.status, 0);
    let version = run(cli().arg("--version"));
    assert_eq!(version.status, 0);
    assert!(version.stdout.starts_with("mosquitto-matrix "), "{}", version.stdout);
    let bad_within = run(cli().args(["diff", "tests/data/debian.json", "tests/data/debian.json", "--within", "soon"]));
    assert_eq!(bad_within.status, i32::from(exit::USAGE), "{}", bad_within.stderr);
    assert!(bad_within.stderr.starts_with("mosquitto-matrix: --within: "), "{}", bad_within.stderr);
}

#[test]
fn help_lists_every_exit_status_and_the_book_chapter_documents_each() {
    let help = run(cli().arg("--help")).stdout;
    let chapter = std::fs::read_to_string(root().join("docs/src/exit-codes.md")).expect("docs/src/exit-codes.md");
    for (code, meaning) in exit::TABLE {
        assert!(help.contains(&format!("{code:>3}  {meaning}")), "--help lacks exit status {code}:\n{help}");
        assert!(chapter.contains(&format!("| {code} |")), "docs/src/exit-codes.md lacks a row for exit status {code}");
    }
}

#[test]
fn a_quick_look_result_is_not_accepted_as_the_baseline() {
    let dir = scratch("quick-look");
    let config = matrix_copy(&dir);
    let before = std::fs::read_to_string(&config).expect("read");
    let mut r = debian();
    r["hold_secs"] = 20.0.into();
    r["five_minute_mark_reached"] = false.into();
    for c in r["cells"].as_array_mut().expect("cells") {
        c["verdict"]["five_minute_mark_reached"] = false.into();
        if c["tag"] == "bookworm" && c["profile"] == "paho-java-1.2.5" {
            c["verdict"]["outcome"] = "OK".into();
            c["verdict"]["at"] = Value::Null;
        }
    }
    let result = write_json(&dir, "quick.json", &r);
    let said = run(cli().arg("--config").arg(&config).arg("baseline").arg(&result));
    assert_eq!(said.status, 0, "{}", said.stderr);
    assert!(said.stderr.contains("bookworm/paho-java-1.2.5: OK not proven (the hold of 20 s ended before the 5-minute mark)"), "{}", said.stderr);
    assert_eq!(std::fs::read_to_string(&config).expect("read"), before, "nothing a 20 s hold saw may become an expectation");
}

#[test]
fn a_result_that_met_every_cell_writes_nothing_into_matrix_toml() {
    let dir = scratch("met");
    let config = matrix_copy(&dir);
    let before = std::fs::read_to_string(&config).expect("read");
    let said = run(cli().arg("--config").arg(&config).args(["baseline", "tests/data/debian.json"]));
    assert_eq!(said.status, 0, "{}", said.stderr);
    assert_eq!(said.stdout, "", "no diff to show");
    assert!(said.stderr.contains("0 expectation(s)"), "{}", said.stderr);
    assert_eq!(std::fs::read_to_string(&config).expect("read"), before, "no redundant X@version key");
}

#[test]
fn baseline_shows_its_change_as_a_diff_and_dry_run_writes_nothing() {
    let dir = scratch("dry-run");
    let config = matrix_copy(&dir);
    let before = std::fs::read_to_string(&config).expect("read");
    let mut r = debian();
    for c in r["cells"].as_array_mut().expect("cells") {
        if c["tag"] == "sid" && c["profile"] == "rfc6455" {
            c["verdict"]["outcome"] = "EOF".into();
            c["verdict"]["at"] = 310.1.into();
        }
    }
    let result = write_json(&dir, "changed.json", &r);
    let dry = run(cli().arg("--config").arg(&config).arg("baseline").arg(&result).arg("--dry-run"));
    assert_eq!(dry.status, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("+\"sid\"") && dry.stdout.contains("rfc6455 = \"EOF@310\""), "{}", dry.stdout);
    assert_eq!(dry.stdout.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count(), 1, "{}", dry.stdout);
    assert_eq!(std::fs::read_to_string(&config).expect("read"), before, "--dry-run writes nothing");
    let real = run(cli().arg("--config").arg(&config).arg("baseline").arg(&result));
    assert_eq!(real.stdout, dry.stdout, "the diff shown is the change made");
    assert_ne!(std::fs::read_to_string(&config).expect("read"), before);
}

#[test]
fn an_ok_in_a_hold_short_of_the_five_minute_mark_is_unproven_never_met() {
    let ok = Expectation::parse("OK").expect("valid");
    let mut v = verdict::error("held");
    v.outcome = Outcome::Ok;
    let tolerance = std::time::Duration::from_secs(5);
    assert_eq!(Status::of(Some(&ok), &v, std::time::Duration::from_secs(20), tolerance), Status::Unproven);
    assert_eq!(Status::of(Some(&ok), &v, std::time::Duration::from_secs(330), tolerance), Status::Met);
    let either = Expectation::parse("EOF|OK").expect("valid");
    assert_eq!(Status::of(Some(&either), &v, std::time::Duration::from_secs(20), tolerance), Status::Unproven);
    // Every format says so: JSON, the cell text and JUnit (skipped, not passed).
    let mut r: RunResult = serde_json::from_value(debian()).expect("a result");
    r.hold_secs = 20.0;
    r.cells[0].status = Status::Unproven;
    assert!(mosquitto_matrix::report::json(&r).contains("\"status\": \"unproven\""));
    assert!(mosquitto_matrix::report::cell_text(&r.cells[0]).contains("unproven"));
    let xml = mosquitto_matrix::report::junit::junit(&r);
    assert_eq!(xml.matches("<skipped").count(), 1, "{xml}");
}

#[test]
fn error_as_an_expectation_is_refused_where_matrix_toml_is_loaded_saying_what_to_write() {
    let dir = scratch("error-expectation");
    let text = std::fs::read_to_string(root().join("matrix.toml")).expect("matrix.toml");
    let row = "\"sid\"      = { \"paho-java-1.2.5\" = \"OK\",    rfc6455 = \"OK\",";
    assert!(text.contains(row), "debian's sid row");
    let bad = text.replacen(row, "\"sid\"      = { \"paho-java-1.2.5\" = \"OK\",    rfc6455 = \"ERROR\",", 1);
    let config = dir.join("matrix.toml");
    std::fs::write(&config, &bad).expect("write");
    let err = MatrixFile::parse(&config, &bad).expect_err("ERROR is no expectation");
    assert!(err.to_string().contains("ERROR is not an expectation"), "{err}");
    let said = run(cli().arg("--config").arg(&config).args(["run", "--set", "debian"]));
    assert_eq!(said.status, i32::from(exit::HARNESS_FAILED), "{}", said.stderr);
    assert!(said.stderr.contains("ERROR is not an expectation") && said.stderr.contains("TIMEOUT"), "{}", said.stderr);
}

#[test]
fn diff_refuses_results_of_different_sets_naming_the_difference() {
    let said = run(cli().args(["diff", "tests/data/debian.json", "tests/data/eclipse-synthetic.json"]));
    assert_eq!(said.status, i32::from(exit::HARNESS_FAILED), "{}", said.stdout);
    assert!(said.stderr.contains("set is \"debian\" in the first and \"eclipse\" in the second"), "{}", said.stderr);
    assert_eq!(said.stdout, "");
}

#[test]
fn diff_prints_json_when_asked_and_its_exit_status_says_whether_a_cell_changed() {
    let same = run(cli().args(["diff", "tests/data/debian.json", "tests/data/debian.json", "--format", "json"]));
    assert_eq!(same.status, 0, "{}", same.stderr);
    let v: Value = serde_json::from_str(&same.stdout).expect("JSON on stdout");
    assert_eq!(v["changes"], serde_json::json!([]));
    let dir = scratch("diff-json");
    let mut r = debian();
    r["cells"][1]["verdict"]["outcome"] = "EOF".into();
    let changed = write_json(&dir, "changed.json", &r);
    let said = run(cli().args(["diff", "tests/data/debian.json"]).arg(&changed).args(["--format", "json"]));
    assert_eq!(said.status, i32::from(exit::CHANGED), "{}", said.stderr);
    let v: Value = serde_json::from_str(&said.stdout).expect("JSON on stdout");
    assert_eq!(v["changes"].as_array().map(Vec::len), Some(1), "{v}");
    let wide = run(cli().args(["diff", "tests/data/debian.json", "tests/data/debian.json", "--format", "table-wide"]));
    assert_eq!(wide.status, i32::from(exit::USAGE), "a format diff does not have is refused: {}", wide.stderr);
}

/// debian.json cut in two shards `1/2` and `2/2` by tag.
fn shards(dir: &Path) -> (Value, Value) {
    let whole = debian();
    let part = |k: usize| {
        let mut p = whole.clone();
        let tags: Vec<String> = ["bullseye", "bookworm", "trixie", "sid"].iter().enumerate().filter(|(i, _)| i % 2 == k - 1).map(|(_, t)| t.to_string()).collect();
        p["shard"] = format!("{k}/2").into();
        p["tags"].as_array_mut().expect("tags").retain(|t| tags.iter().any(|x| t["tag"] == x.as_str()));
        p["cells"].as_array_mut().expect("cells").retain(|c| tags.iter().any(|x| c["tag"] == x.as_str()));
        p
    };
    let _ = dir;
    (part(1), part(2))
}

#[test]
fn merge_refuses_shards_of_different_keepalives_and_a_series_with_a_shard_missing() {
    let dir = scratch("merge");
    let (a, mut b) = shards(&dir);
    let (fa, fb) = (write_json(&dir, "a.json", &a), write_json(&dir, "b.json", &b));
    let good = run(cli().arg("merge").arg(&fa).arg(&fb).args(["--format", "json"]));
    assert_eq!(good.status, 0, "{}", good.stderr);
    let merged: RunResult = serde_json::from_str(&good.stdout).expect("a result");
    assert_eq!(merged.cells.len(), 64);
    b["keepalive_secs"] = 45.0.into();
    let fb45 = write_json(&dir, "b45.json", &b);
    let said = run(cli().arg("merge").arg(&fa).arg(&fb45));
    assert_eq!(said.status, i32::from(exit::HARNESS_FAILED), "{}", said.stdout);
    assert!(said.stderr.contains("keepalive is \"45\", but the first shard has \"60\""), "{}", said.stderr);
    let missing = run(cli().arg("merge").arg(&fa));
    assert_eq!(missing.status, i32::from(exit::HARNESS_FAILED), "{}", missing.stdout);
    assert!(missing.stderr.contains("shard 2/2 of 2 is missing"), "{}", missing.stderr);
}

#[test]
fn a_closed_stdout_ends_the_command_quietly_with_status_0() {
    let dir = scratch("pipe");
    let mut r = debian();
    for c in r["cells"].as_array_mut().expect("cells") {
        c["verdict"]["outcome"] = "CLOSED".into();
    }
    let changed = write_json(&dir, "changed.json", &r);
    let mut child = cli()
        .args(["diff", "tests/data/debian.json"])
        .arg(&changed)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    // The reader goes away before the command writes a byte, as `| head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn a_selection_with_no_column_left_is_refused_before_any_broker_starts() {
    let said = run(cli().args(["run", "--set", "debian", "--transport", "tcp", "--profiles", "rfc6455"]));
    assert_eq!(said.status, i32::from(exit::USAGE), "{}", said.stderr);
    assert!(said.stderr.contains("--transport: no column of this run speaks tcp; its columns: rfc6455 (ws)"), "{}", said.stderr);
    assert!(!said.stderr.contains("run id"), "no run started: {}", said.stderr);
}

#[test]
fn transport_filters_on_each_column_as_it_runs_so_v5_websocket_columns_leave_with_tcp() {
    let file = MatrixFile::load(&root().join("matrix.toml")).expect("matrix.toml");
    let sel = Selection {
        set: Some("debian".into()),
        profiles: Some(vec!["rfc6455".into(), "tcp".into()]),
        protocols: Some(vec!["3.1.1".into(), "5".into()]),
        transport: Some("tcp".into()),
        origin: SelectionOrigin::CommandLine,
        ..Selection::default()
    };
    let plan = Plan::new(&file, &sel).expect("a plan");
    let names: Vec<&str> = plan.columns.iter().map(|c| c.name()).collect();
    assert!(names.iter().all(|n| n.starts_with("tcp")), "only TCP columns: {names:?}");
}

#[test]
fn duplicate_tags_and_duplicate_profiles_are_refused_each_in_one_line() {
    let tags = run(cli().args(["run", "--set", "debian", "--tags", "bookworm,sid,bookworm"]));
    assert_eq!(tags.status, i32::from(exit::USAGE), "{}", tags.stderr);
    assert_eq!(tags.stderr.trim(), "mosquitto-matrix: --tags: tag \"bookworm\" is given twice; each tag runs once (for more, use copies)");
    let profiles = run(cli().args(["run", "--set", "debian", "--profiles", "rfc6455,tcp,rfc6455"]));
    assert_eq!(profiles.status, i32::from(exit::USAGE), "{}", profiles.stderr);
    assert_eq!(profiles.stderr.trim(), "mosquitto-matrix: --profiles: column \"rfc6455\" is given twice; name each column once");
}

#[test]
fn new_with_add_tags_is_refused_instead_of_dropping_one() {
    let said = run(cli().args(["run", "--set", "eclipse", "--new", "--add-tags", "2.0.22"]));
    assert_eq!(said.status, i32::from(exit::USAGE), "{}", said.stderr);
    assert!(said.stderr.contains("cannot be used with"), "{}", said.stderr);
}

#[test]
fn the_cli_reads_the_same_matrix_variables_as_cargo_test_and_names_the_variable_in_an_error() {
    let set = run(cli().args(["run"]).env("MATRIX_SET", "no-such-set"));
    assert_eq!(set.status, i32::from(exit::HARNESS_FAILED), "{}", set.stderr);
    assert!(set.stderr.starts_with("mosquitto-matrix: MATRIX_SET: unknown set \"no-such-set\""), "{}", set.stderr);
    let speed = run(cli().args(["run", "--set", "debian"]).env("MATRIX_SPEED", "fast"));
    assert!(speed.stderr.starts_with("mosquitto-matrix: MATRIX_SPEED: \"fast\" is not a speed"), "{}", speed.stderr);
    let flag = run(cli().args(["run", "--set", "debian", "--speed", "fast"]).env("MATRIX_SPEED", "10"));
    assert!(flag.stderr.starts_with("mosquitto-matrix: --speed: \"fast\" is not a speed"), "the flag wins and is named: {}", flag.stderr);
    assert_eq!(flag.status, i32::from(exit::USAGE));
    let tags = run(cli().args(["run", "--set", "debian"]).env("MATRIX_TAGS", "sid,sid"));
    assert!(tags.stderr.starts_with("mosquitto-matrix: MATRIX_TAGS: tag \"sid\" is given twice"), "{}", tags.stderr);
    let config = run(cli().args(["run"]).env("MATRIX_CONFIG", "/nonexistent/matrix.toml"));
    assert!(config.stderr.contains("/nonexistent/matrix.toml: cannot read"), "{}", config.stderr);
    // The library function both read through: each variable, and the flags laid over them.
    let vars = |k: &str| match k {
        "MATRIX_SET" => Some("debian".to_string()),
        "MATRIX_HOLD" => Some("20s".to_string()),
        "MATRIX_TRANSPORT" => Some("tcp".to_string()),
        _ => None,
    };
    let from_env = Selection::from_vars(vars);
    assert_eq!((from_env.set.as_deref(), from_env.hold.as_deref()), (Some("debian"), Some("20s")));
    assert_eq!(from_env.transport, None, "MATRIX_TRANSPORT is the command contract's, set for each client: no run reads it");
    let both = from_env.overridden_by(Selection { hold: Some("30s".into()), ..Selection::default() });
    assert_eq!((both.set.as_deref(), both.hold.as_deref()), (Some("debian"), Some("30s")));
    assert_eq!((both.origin_of("set"), both.origin_of("hold")), ("MATRIX_SET".to_string(), "--hold".to_string()));
}

/// Niceness of a process, from `/proc/PID/stat` (the 19th field).
fn niceness(pid: u32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process is alive");
    let after = &stat[stat.rfind(')').expect("a name") + 1..];
    after.split_whitespace().nth(16).and_then(|n| n.parse().ok()).expect("a niceness")
}

#[test]
fn a_process_named_docker_proxy_that_the_engine_did_not_start_keeps_its_niceness() {
    use std::os::unix::process::CommandExt as _;
    // Our own `docker-proxy -host-port 47123`: a shell under that name, waiting on its stdin.
    let mut fake = Command::new("sh")
        .arg0("docker-proxy")
        .args(["-c", "read line", "-host-port", "47123"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh starts");
    // Its command line, once the new program has replaced the forked one.
    let mut cmdline = Vec::new();
    for _ in 0..200 {
        cmdline = std::fs::read(format!("/proc/{}/cmdline", fake.id())).expect("its command line");
        if cmdline.starts_with(b"docker-proxy") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(mosquitto_matrix::engine::priority::relay_port(&cmdline), Some(47123), "it looks like a relay of that port: {:?}", String::from_utf8_lossy(&cmdline));
    let before = niceness(fake.id());
    mosquitto_matrix::engine::priority::raise_port_relays(&[47123]);
    let after = niceness(fake.id());
    drop(fake.stdin.take());
    let _ = fake.wait();
    assert_eq!(after, before, "a docker-proxy that is not the engine's was reniced");
}

/// Compares a command's stdout with its golden file under tests/data/cli/; `MATRIX_BLESS=1`
/// writes the file instead (then read the diff before committing it).
fn golden(name: &str, actual: &str) {
    let path = root().join("tests/data/cli").join(name);
    if std::env::var_os("MATRIX_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("tests/data/cli/");
        std::fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; run with MATRIX_BLESS=1 to write it", path.display()));
    assert!(actual == expected, "{} differs from the output:\n--- expected\n{expected}\n--- actual\n{actual}", path.display());
}

#[test]
fn every_subcommand_refuses_a_wrong_argument_as_a_usage_error_naming_it() {
    let cases: [(&[&str], &str); 7] = [
        (&["merge"], "required arguments were not provided"),
        (&["baseline"], "required arguments were not provided"),
        (&["agree", "tests/data/debian.json", "--columns", "rfc6455"], "--columns: give two columns"),
        (&["agree", "tests/data/debian.json", "--columns", "rfc6455,nope"], "--columns: tests/data/debian.json has no column \"nope\""),
        (&["discover", "--set", "nosuch"], "--set: unknown set \"nosuch\"; matrix.toml has eclipse, debian, musl"),
        (&["client", "--profile", "nosuch"], "--profile: unknown profile \"nosuch\""),
        (&["run", "--new", "--tags", "2.0.22"], "cannot be used with"),
    ];
    for (args, says) in cases {
        let said = run(cli().args(args));
        assert_eq!(said.status, i32::from(exit::USAGE), "{args:?}: {}", said.stderr);
        assert!(said.stderr.contains(says), "{args:?}: {}", said.stderr);
    }
    let unreadable = run(cli().args(["baseline", "/nonexistent/result.json"]));
    assert_eq!(unreadable.status, i32::from(exit::HARNESS_FAILED), "{}", unreadable.stderr);
    assert_eq!(unreadable.stderr.trim(), "mosquitto-matrix: /nonexistent/result.json: cannot read: No such file or directory (os error 2)");
}

#[test]
fn diff_agree_merge_and_baseline_print_their_golden_outputs() {
    let dir = scratch("golden");
    let mut r = debian();
    for c in r["cells"].as_array_mut().expect("cells") {
        if c["tag"] == "sid" && c["profile"] == "rfc6455" {
            c["verdict"]["outcome"] = "EOF".into();
            c["verdict"]["at"] = 310.1.into();
            c["verdict"]["cause"] = "broker ended the connection without a close frame at 310.1 s".into();
        }
    }
    let changed = write_json(&dir, "changed.json", &r);
    let diff = run(cli().args(["diff", "tests/data/debian.json"]).arg(&changed).args(["--format", "markdown"]));
    assert_eq!(diff.status, i32::from(exit::CHANGED), "{}", diff.stderr);
    golden("diff.md", &diff.stdout);
    let agree = run(cli().args(["agree", "tests/data/debian.json", "--columns", "paho-java-1.2.5,paho-java@1.2.5"]));
    assert_eq!(agree.status, 0, "{}", agree.stderr);
    golden("agree.txt", &agree.stdout);
    let (a, b) = shards(&dir);
    let (fa, fb) = (write_json(&dir, "a.json", &a), write_json(&dir, "b.json", &b));
    let merged = run(cli().arg("merge").arg(&fb).arg(&fa).args(["--format", "markdown"]));
    assert_eq!(merged.status, 0, "{}", merged.stderr);
    golden("merge.md", &merged.stdout);
    let config = matrix_copy(&dir);
    let baseline = run(cli().arg("--config").arg(&config).arg("baseline").arg(&changed).arg("--dry-run"));
    assert_eq!(baseline.status, 0, "{}", baseline.stderr);
    golden("baseline-dry-run.diff", &baseline.stdout.replace(&config.display().to_string(), "matrix.toml"));
}
