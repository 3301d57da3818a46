//! `clients/setup.sh` installs nothing that its locks do not name by hash: a lock whose hash was
//! changed makes it fail, with one line naming the package and both hashes.
//!
//! Offline and Docker-free: each test lays out a copy of `clients/setup.sh` in a temporary tree
//! with a lock of its own, and an artefact the test makes itself (a tiny `paho-mqtt` wheel in a
//! local folder pip is pointed at with `PIP_NO_INDEX`/`PIP_FIND_LINKS`; a jar in a folder laid
//! out as a Maven repository, `MATRIX_MAVEN_REPO=file://…`). No registry is asked. Each test
//! first shows that the true hash installs, so the failure is the hash's and nothing else's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context as _};

mod support_pypi;
use support_pypi::make_wheel;

/// The repository's root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sha256 of a file, as `sha256sum` (which setup.sh uses) prints it.
fn sha256_hex(path: &Path) -> anyhow::Result<String> {
    let out = Command::new("sha256sum").arg(path).output().context("sha256sum runs")?;
    ensure!(out.status.success(), "sha256sum {}: {}", path.display(), text(&out));
    Ok(String::from_utf8_lossy(&out.stdout).chars().take(64).collect())
}

/// A temporary folder, removed when dropped (whatever the test's outcome).
struct Tree(PathBuf);

impl Tree {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One hex digit of `hash` changed: what a tampered lock holds.
fn tampered(hash: &str) -> String {
    let mut chars: Vec<char> = hash.chars().collect();
    chars[10] = if chars[10] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

/// Runs `bash clients/setup.sh <client>` in `tree` with `env`, offline.
fn setup(tree: &Path, client: &str, env: &[(&str, String)]) -> anyhow::Result<Output> {
    let mut cmd = Command::new("bash");
    cmd.arg("clients/setup.sh").arg(client).current_dir(tree).stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().context("bash clients/setup.sh runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A temporary tree with `clients/setup.sh` and the files of `client` that setup needs.
fn tree_with(files: &[&str]) -> anyhow::Result<Tree> {
    let out = Command::new("mktemp").args(["-d", "-t", "mosquitto-matrix-client-locks.XXXXXX"]).output().context("mktemp runs")?;
    ensure!(out.status.success(), "mktemp -d: {}", text(&out));
    let dir = Tree(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    for f in files {
        let to = dir.path().join(f);
        fs::create_dir_all(to.parent().context("a parent")?)?;
        fs::copy(repo().join(f), &to).with_context(|| format!("copy {f}"))?;
    }
    Ok(dir)
}

#[test]
fn a_tampered_hash_in_a_paho_python_lock_makes_setup_fail_naming_the_package() -> anyhow::Result<()> {
    let version = "0.0.7";
    let tree = tree_with(&["clients/setup.sh", "clients/paho-python/hold.py", "clients/paho-python/build-requirements.txt"])?;
    let wheels = tree.path().join("wheelhouse");
    fs::create_dir_all(&wheels)?;
    let wheel = make_wheel(&wheels, version)?;
    let hash = sha256_hex(&wheel)?;
    let lock = tree.path().join(format!("clients/paho-python/{version}/requirements.txt"));
    fs::create_dir_all(lock.parent().context("a parent")?)?;
    let write_lock = |h: &str| fs::write(&lock, format!("--only-binary :all:\npaho-mqtt=={version} --hash=sha256:{h}\n"));
    let env = [
        ("PIP_NO_INDEX", "1".to_string()),
        ("PIP_FIND_LINKS", wheels.display().to_string()),
        ("PIP_NO_CACHE_DIR", "1".to_string()),
    ];

    write_lock(&hash)?;
    let good = setup(tree.path(), "paho-python", &env)?;
    ensure!(good.status.success(), "the true hash installs:\n{}", text(&good));
    ensure!(text(&good).contains(&format!("paho-python      {version}")), "setup names the version it installed:\n{}", text(&good));

    let bad_hash = tampered(&hash);
    write_lock(&bad_hash)?;
    let bad = setup(tree.path(), "paho-python", &env)?;
    let said = text(&bad);
    ensure!(!bad.status.success(), "a tampered hash must fail setup:\n{said}");
    let line = said.lines().find(|l| l.starts_with("paho-python") && l.contains("FAILED")).context(format!("a FAILED line for paho-python:\n{said}"))?;
    let want = format!("paho-mqtt=={version}: sha256 mismatch: the lock says {bad_hash}, the download is {hash}");
    ensure!(line.contains(&want), "the line names the package and both hashes:\n{line}\nwanted: {want}");
    ensure!(!tree.path().join(format!("target/clients/paho-python/{version}/artefact")).exists(), "a refused install records no artefact");
    Ok(())
}

#[test]
fn a_tampered_hash_in_a_java_lock_makes_setup_fail_naming_the_coordinates() -> anyhow::Result<()> {
    let tree = tree_with(&["clients/setup.sh", "clients/paho-java-v5/Hold.java", "clients/java-contract/Contract.java", "clients/java-contract/Runtime.java"])?;
    // A jar where the lock's coordinates put it, in a folder laid out as a Maven repository.
    let coords = "org.eclipse.paho:org.eclipse.paho.mqttv5.client:0.0.7";
    let repo_dir = tree.path().join("m2");
    let jar = repo_dir.join("org/eclipse/paho/org.eclipse.paho.mqttv5.client/0.0.7/org.eclipse.paho.mqttv5.client-0.0.7.jar");
    fs::create_dir_all(jar.parent().context("a parent")?)?;
    fs::write(&jar, b"not really a jar: the hash is what is checked first")?;
    let hash = sha256_hex(&jar)?;
    let bad_hash = tampered(&hash);
    fs::write(tree.path().join("clients/paho-java-v5/lock.txt"), format!("# version coordinates sha256\n0.0.7 {coords} {bad_hash}\n"))?;
    let env = [("MATRIX_MAVEN_REPO", format!("file://{}", repo_dir.display()))];

    let bad = setup(tree.path(), "paho-java-v5", &env)?;
    let said = text(&bad);
    ensure!(!bad.status.success(), "a tampered hash must fail setup:\n{said}");
    let line = said.lines().find(|l| l.starts_with("paho-java-v5") && l.contains("FAILED")).context(format!("a FAILED line:\n{said}"))?;
    let want = format!("{coords}: sha256 mismatch: the lock says {bad_hash}, the download is {hash}");
    ensure!(line.contains(&want), "the line names the coordinates and both hashes:\n{line}\nwanted: {want}");
    ensure!(!tree.path().join("target/clients/maven/org/eclipse/paho/org.eclipse.paho.mqttv5.client/0.0.7").read_dir()?.any(|e| e.is_ok()), "nothing unchecked stays in the cache");
    Ok(())
}
