//! Safe to run on a workstation: the test registry answers on loopback only; `--dry-run`
//! changes nothing; `scripts/uninstall.sh` lists what the scripts recorded; a changed recipe
//! (even a comment) makes the debian, musl and proxy images stale, an unchanged one finds
//! them; and the main job's provisioning, run a second time as another (non-root) user, needs
//! no root and leaves nothing root-owned in the checkout.
//!
//! The images are the provisioned ones (`bash docker/provision.sh`); MOSQUITTO_MATRIX_IMAGE_REPO,
//! _MUSL_REPO, _PROXY_REPO and MATRIX_TAGS, when set, name others (and pass through to the
//! other user's run).
//!
//! Needs `bash docker/registry.sh` (the registry binary under target/tools/), an engine, and
//! root for the last test (it creates a throwaway user); run by name:
//! `cargo test --locked --test workstation`. Nothing is skipped: a missing piece fails with
//! the reason.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A folder under the system temp dir, removed when dropped (also when a test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("mosquitto-matrix-{name}-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `docker/registry.sh serve DIR`, killed when dropped.
struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A GET of `/v2/` on `addr`: the status line, or why there is none.
fn get_v2(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(s, "GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// This machine's own addresses other than 127.0.0.1: another loopback one, and every
/// interface address `hostname -I` lists.
fn other_local_addresses() -> Vec<IpAddr> {
    let mut v = vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))];
    if let Ok(out) = Command::new("hostname").arg("-I").output() {
        v.extend(String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|w| w.parse::<IpAddr>().ok()));
    }
    v
}

#[test]
fn the_test_registry_answers_on_127_0_0_1_and_on_no_other_local_address() {
    let dir = TempDir::new("registry-bind");
    let mut child = Command::new("bash")
        .arg(root().join("docker/registry.sh"))
        .arg("serve")
        .arg(&dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bash docker/registry.sh serve runs");
    let stdout = child.stdout.take().expect("stdout");
    let registry = Registry(child);
    // Read on a thread that keeps draining: a closed pipe would end the registry (SIGPIPE).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("registry: http://127.0.0.1:") {
                let _ = tx.send(rest.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()));
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(60)).ok().flatten();
    let port = port.expect("registry.sh serve printed `registry: http://127.0.0.1:PORT` (is docker-registry unpacked? bash docker/registry.sh)");
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut answer = Err(String::new());
    for _ in 0..100 {
        answer = get_v2(loopback);
        if answer.as_ref().is_ok_and(|l| l.contains(" 200")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answer.as_ref().is_ok_and(|l| l.contains(" 200")), "the registry answers GET /v2/ on {loopback}: {answer:?}");
    let others = other_local_addresses();
    for ip in &others {
        let addr = SocketAddr::new(*ip, port);
        assert!(get_v2(addr).is_err(), "the registry must not answer on {addr} (it binds 127.0.0.1 only)");
    }
    drop(registry);
}

#[test]
fn matrix_sh_dry_run_says_what_it_would_change_and_changes_nothing() {
    let logs = root().join("target/logs");
    let before: Vec<_> = std::fs::read_dir(&logs).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    let state = TempDir::new("state");
    let out = Command::new("bash")
        .arg(root().join("scripts/matrix.sh"))
        .arg("--dry-run")
        .env("MOSQUITTO_MATRIX_STATE_DIR", &state.0)
        .env_remove("MOSQUITTO_MATRIX_LOG_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("bash scripts/matrix.sh --dry-run runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("== what this run needs on this machine"), "{text}");
    assert!(text.contains("docker engine: found") || text.contains("would: start dockerd"), "the engine step speaks: {text}");
    assert!(text.contains("would: clients/setup.sh"), "{text}");
    assert!(!text.contains("== provisioning"), "a dry run provisions nothing: {text}");
    let after: Vec<_> = std::fs::read_dir(&logs).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert_eq!(before, after, "a dry run makes no log folder");
    assert_eq!(std::fs::read_dir(&state.0).expect("state dir").count(), 0, "a dry run records nothing");
}

#[test]
fn uninstall_lists_each_recorded_change_and_a_dry_run_keeps_them() {
    let state = TempDir::new("state");
    let rules = state.0.join("iptables-before-engine");
    std::fs::write(&rules, "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n").expect("write");
    let ip_forward = if std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("ip_forward").trim() == "1" { "0" } else { "1" };
    let changes = format!("ip_forward {ip_forward}\niptables {}\nengine 999999999 /nowhere/dockerd.log\n", rules.display());
    std::fs::write(state.0.join("changes"), &changes).expect("write");
    let run = |mode: &str| {
        let out = Command::new("bash")
            .arg(root().join("scripts/uninstall.sh"))
            .arg(mode)
            .env("MOSQUITTO_MATRIX_STATE_DIR", &state.0)
            .stdin(Stdio::null())
            .output()
            .expect("bash scripts/uninstall.sh runs");
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (code, text) = run("--dry-run");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("would undo: engine: iptables rules as they were before it started ({})", rules.display())), "{text}");
    assert!(text.contains(&format!("would undo: engine: net.ipv4.ip_forward back to {ip_forward}")), "{text}");
    assert!(text.contains("(dry run) nothing was changed"), "{text}");
    assert_eq!(std::fs::read_to_string(state.0.join("changes")).expect("changes"), changes, "a dry run keeps the record");
    let (code, text) = run("--check");
    assert_eq!(code, Some(1), "something recorded is left: {text}");
    assert!(text.contains("left: engine: iptables rules"), "{text}");
    assert!(text.contains("left: engine: net.ipv4.ip_forward back to"), "{text}");
}

#[test]
fn provisioning_again_as_another_user_needs_no_root_and_leaves_nothing_of_roots_in_the_checkout() {
    let out = Command::new("bash")
        .arg(root().join("tests/workstation/as-another-user.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("bash tests/workstation/as-another-user.sh runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    for needle in ["exited 0", "it asked for no root", "none is root's"] {
        assert!(text.contains(needle), "{needle:?} missing: {text}");
    }
}

/// `docker/` copied into a fresh folder (with `edit` applied to one of its files), then `SCRIPT`
/// run from the copy in dry-run mode: what it says about its image.
fn dry_run_of_a_copy(script: &str, args: &[&str], edit: Option<(&str, &str)>) -> String {
    let dir = TempDir::new("recipe");
    let copy = dir.0.join("docker");
    let status = Command::new("cp").arg("-a").arg(root().join("docker")).arg(&copy).status().expect("cp runs");
    assert!(status.success());
    if let Some((file, line)) = edit {
        let path = copy.join(file);
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str(line);
        std::fs::write(&path, text).expect("write");
    }
    let mut cmd = Command::new("bash");
    cmd.arg(copy.join(script)).args(args).env("MOSQUITTO_MATRIX_DRY_RUN", "1").stdin(Stdio::null());
    let out = cmd.output().expect("the build script runs");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_changed_recipe_makes_the_debian_musl_and_proxy_images_stale_and_an_unchanged_one_finds_them() {
    // The images as provisioned (MOSQUITTO_MATRIX_*_REPO name others, as for the tests above).
    let debian = std::env::var("MOSQUITTO_MATRIX_IMAGE_REPO").unwrap_or_else(|_| "mosquitto-matrix/debian".to_string());
    let musl = std::env::var("MOSQUITTO_MATRIX_MUSL_REPO").unwrap_or_else(|_| "mosquitto-matrix/musl".to_string());
    let proxy = std::env::var("MOSQUITTO_MATRIX_PROXY_REPO").unwrap_or_else(|_| "mosquitto-matrix/proxy".to_string());
    let cases = [
        ("build-debian-images.sh", vec!["bookworm"], format!("{debian}:bookworm")),
        ("build-musl-image.sh", vec![], format!("{musl}:2.0.11")),
        ("build-proxy-image.sh", vec![], format!("{proxy}:bookworm")),
    ];
    for (script, args, image) in &cases {
        let same = dry_run_of_a_copy(script, args, None);
        assert!(same.contains(&format!("image {image}: found")), "{script}, recipe unchanged: {same}");
    }
    // A comment is enough: the label hashes the recipe's files, not what they do.
    let conf = ("mosquitto.conf", "\n# a changed recipe\n");
    let sources = ("apt-sources.sh", "\n# a changed recipe\n");
    for (script, args, image, edit) in [
        (&cases[0], conf),
        (&cases[1], conf),
        (&cases[0], sources),
        (&cases[2], sources),
    ]
    .map(|((s, a, i), e)| (s, a, i, e))
    {
        let changed = dry_run_of_a_copy(script, args, Some(edit));
        assert!(changed.contains(&format!("image {image}: stale")), "{script}, {} changed: {changed}", edit.0);
        assert!(changed.contains(&format!("would: build {image}")), "{script}, {} changed: {changed}", edit.0);
    }
}
