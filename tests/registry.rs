//! Images that live only in a registry: a real local registry (Debian's `docker-registry`),
//! the Debian images pushed into it, their local registry-named copies removed, then
//! discovery lists them and a run makes testcontainers pull them.
//!
//! Needs Docker and `docker-registry`; without either it fails with the reason, never skips.
//! The bearer-token flow Docker Hub uses is tested against a scripted HTTP server.

mod support_registry;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use mosquitto_matrix::engine::discover::{self, DiscoverError};
use mosquitto_matrix::plan::{Cell, Column, Expectation, ImageSet, MatrixFile, Plan};
use mosquitto_matrix::plan::{Profile, Route};
use mosquitto_matrix::judge::results::Status;
use mosquitto_matrix::plan::Outcome;
use mosquitto_matrix::engine::{image, labels};
use mosquitto_matrix::{report, run};

use support_registry::LocalRegistry;

/// The locally built images pushed (docker/build-debian-images.sh makes them).
const SOURCE: &str = "mosquitto-matrix/debian";
/// The registry's extra names for them, so discovery has releases, variants and non-releases
/// to sort, as the official list does: 2.1.3 only as `-alpine`, 2.0.12 only as `-openssl`.
const ALIASES: [(&str, &[&str]); 2] = [
    ("bookworm", &["2.0.11", "2.0", "latest", "2.0.11-openssl", "2.0.12-openssl"]),
    ("sid", &["2.1.2", "2.1-openssl", "2.1.2-alpine", "2.1.3-alpine", "2.1-alpine"]),
];
/// A tag the registry does not have.
const MISSING: &str = "missing-tag";
/// A tag whose only layer exists nowhere but in the registry, so its pull downloads for real.
const FRESH: &str = "fresh";

fn sh(script: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("sh").arg("-c").arg(script).output().context("sh runs")?;
    ensure!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Removes the fresh image (pushed or pulled) and its helper container, whatever happens.
struct FreshGuard {
    name: String,
    container: String,
}

impl Drop for FreshGuard {
    fn drop(&mut self) {
        let _ = sh(&format!("docker rm -f {} >/dev/null 2>&1; docker rmi -f {} >/dev/null 2>&1; true", self.container, self.name));
    }
}

/// Re-imports sid's file system as a single new layer under `<registry>/<repository>:fresh`,
/// pushes it, and drops it locally: the engine then holds none of its bytes.
fn push_fresh(image: &str, run_id: &str) -> anyhow::Result<(FreshGuard, Duration, u64)> {
    let name = format!("{image}:{FRESH}");
    let guard = FreshGuard { name: name.clone(), container: format!("mm-fresh-{run_id}") };
    let source = format!("{SOURCE}:sid");
    let config = sh(&format!("docker image inspect --format '{{{{json .Config}}}}' {source}"))?;
    let config: serde_json::Value = serde_json::from_str(&config)?;
    let mut changes = Vec::new();
    for e in config["Env"].as_array().into_iter().flatten().filter_map(|e| e.as_str()) {
        changes.push(format!("--change 'ENV {e}'"));
    }
    changes.push(format!("--change 'CMD {}'", config["Cmd"]));
    changes.push("--change 'EXPOSE 1883' --change 'EXPOSE 9001'".to_string());
    sh(&format!("docker create --name {} {source} >/dev/null", guard.container))?;
    sh(&format!("docker export {} | docker import {} - {name} >/dev/null", guard.container, changes.join(" ")))?;
    let size: u64 = sh(&format!("docker image inspect --format '{{{{.Size}}}}' {name}"))?.parse()?;
    let pushing = Instant::now();
    sh(&format!("docker push {name} >/dev/null"))?;
    let took = pushing.elapsed();
    sh(&format!("docker rmi {name} >/dev/null"))?;
    Ok((guard, took, size))
}

#[tokio::test(flavor = "multi_thread")]
async fn images_only_in_a_local_registry_are_listed_pulled_and_run() -> anyhow::Result<()> {
    let wall = Instant::now();
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .context("this test needs a Docker engine (bash docker/engine.sh)")?;
    docker.ping().await.context("this test needs a Docker engine that answers (bash docker/engine.sh)")?;
    for (tag, _) in ALIASES {
        let source = format!("{SOURCE}:{tag}");
        docker
            .inspect_image(&source)
            .await
            .with_context(|| format!("{source} is not built here; bash docker/build-debian-images.sh builds it"))?;
    }

    let mut registry = LocalRegistry::start().await?;
    let repository = format!("mosquitto-matrix-test/debian-{}", labels::new_run_id());
    let image = registry.image(&repository);
    eprintln!("registry: {} (image {image})", registry.base_url);

    // Push every name, then drop the engine's registry-named references: only the registry has them.
    for (tag, aliases) in ALIASES {
        let source = format!("{SOURCE}:{tag}");
        for name in std::iter::once(&tag).chain(aliases.iter()) {
            let took = registry.push(&source, &repository, name).await?;
            eprintln!("push {source} as {image}:{name}: {:.2}s", took.as_secs_f64());
        }
        for name in std::iter::once(&tag).chain(aliases.iter()) {
            registry.forget_local(&repository, name).await?;
            ensure!(!image::is_local(&format!("{image}:{name}")).await, "{image}:{name} is still local");
        }
    }

    let (_fresh, fresh_push, fresh_size) = push_fresh(&image, &labels::new_run_id())?;
    eprintln!("push {image}:{FRESH} (a new {:.0} MB layer): {:.2}s", fresh_size as f64 / 1e6, fresh_push.as_secs_f64());
    ensure!(!image::is_local(&format!("{image}:{FRESH}")).await, "{image}:{FRESH} is still local");

    // (a) The registry lists what was pushed, whole and one tag per page.
    let mut tags = discover::list_tags(&registry.base_url, &repository).await?;
    tags.sort();
    let mut pushed: Vec<String> = ALIASES
        .iter()
        .flat_map(|(t, a)| std::iter::once(t).chain(a.iter()))
        .map(|s| s.to_string())
        .chain(std::iter::once(FRESH.to_string()))
        .collect();
    pushed.sort();
    assert_eq!(tags, pushed, "tags listed by {}", registry.base_url);
    let mut paged = discover::list_tags_paged(&registry.base_url, &repository, 1).await?;
    paged.sort();
    assert_eq!(paged, pushed, "tags listed one per page, following Link: rel=\"next\"");
    match discover::list_tags(&registry.base_url, "mosquitto-matrix-test/absent").await {
        Err(e @ DiscoverError::Status { status: 404, .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("/v2/mosquitto-matrix-test/absent/tags/list") && text.contains("NAME_UNKNOWN"),
                "{text}"
            );
        }
        other => panic!("an absent repository must be a 404 naming the URL: {other:?}"),
    }

    // (c) Discovery against the registry: releases with their variants, in version order; those
    // not in the set, under the first followed variant the registry has.
    let eclipse_like = vec![String::new(), "-alpine".to_string()];
    let set = ImageSet {
        name: "registry".into(),
        image: image.clone(),
        tags: vec!["bookworm".into(), "sid".into(), "2.0.11".into()],
        expect: BTreeMap::new(),
        variants: eclipse_like.clone(),
        digests: BTreeMap::new(),
        routes: None,
        expect_on: BTreeMap::new(),
    };
    let found = discover::discover(&set).await?;
    println!("{found}");
    assert_eq!(found.registry, registry.base_url);
    assert_eq!(found.releases, ["2.0.11", "2.0.11-openssl", "2.0.12-openssl", "2.1.2", "2.1.2-alpine", "2.1.3-alpine"]);
    assert_eq!(found.not_followed, ["2.0.11-openssl", "2.0.12-openssl"]);
    assert_eq!(found.not_in_set, ["2.1.2", "2.1.3-alpine"], "bare when the registry has it, else -alpine");
    let text = found.to_string();
    assert!(text.contains("variants followed: bare, -alpine") && text.contains("variants not followed: 2.0.11-openssl 2.0.12-openssl"), "{text}");
    // Listed as 2.1.2-alpine, 2.1.2 counts as listed.
    let alpine_listed = ImageSet { tags: vec!["2.0.11".into(), "2.1.2-alpine".into()], ..set.clone() };
    assert_eq!(discover::discover(&alpine_listed).await?.not_in_set, ["2.1.3-alpine"]);
    // A set that follows bare tags only (the default) does not see 2.1.3 at all.
    let bare_only = ImageSet { variants: vec![String::new()], ..set.clone() };
    assert_eq!(discover::discover(&bare_only).await?.not_in_set, ["2.1.2"]);

    // `run --new` through the CLI runs exactly the release the set lacks, reported as new.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("mosquitto-matrix-new-{}", labels::new_run_id()));
    std::fs::create_dir_all(&dir)?;
    // Removed however this test ends.
    struct RemoveDir<'a>(&'a Path);
    impl Drop for RemoveDir<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
    let _remove = RemoveDir(&dir);
    let shipped = std::fs::read_to_string(root.join("matrix.toml"))?;
    let config = dir.join("matrix.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[sets.registry]\nimage = \"{image}\"\ntags = [\"bookworm\", \"sid\", \"2.0.11\"]\nvariants = [\"\", \"-alpine\"]\n",
            shipped.replace("\"docker/", &format!("\"{}/docker/", root.display()))
        ),
    )?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mosquitto-matrix"))
        .args(["run", "--set", "registry", "--new", "--profiles", "rfc6455", "--hold", "2s", "--format", "json", "--config"])
        .arg(&config)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.code() == Some(0), "run --new: {stderr}");
    let new_run: mosquitto_matrix::judge::results::RunResult = serde_json::from_slice(&out.stdout)?;
    let ran: Vec<(String, Status, Outcome)> =
        new_run.cells.iter().map(|c| (c.tag.clone(), c.status, c.verdict.outcome)).collect();
    assert_eq!(
        ran,
        [("2.1.2".to_string(), Status::New, Outcome::Ok), ("2.1.3-alpine".to_string(), Status::New, Outcome::Ok)],
        "{stderr}"
    );
    // Nothing new once the set lists them: exit status 4, and the (empty) reports are still written.
    let listed = std::fs::read_to_string(&config)?.replace(
        "tags = [\"bookworm\", \"sid\", \"2.0.11\"]",
        "tags = [\"bookworm\", \"sid\", \"2.0.11\", \"2.1.2\", \"2.1.3-alpine\"]",
    );
    std::fs::write(&config, listed)?;
    let out_dir = dir.join("out");
    let none = std::process::Command::new(env!("CARGO_BIN_EXE_mosquitto-matrix"))
        .args(["run", "--set", "registry", "--new", "--profiles", "rfc6455", "--hold", "2s", "--format", "json", "--out"])
        .arg(&out_dir)
        .arg("--config")
        .arg(&config)
        .output()?;
    let stderr = String::from_utf8_lossy(&none.stderr);
    ensure!(none.status.code() == Some(i32::from(mosquitto_matrix::report::exit::NOTHING_TO_RUN)), "run --new with nothing new: {stderr}");
    ensure!(stderr.contains("no new release to run"), "{stderr}");
    let empty: mosquitto_matrix::judge::results::RunResult = serde_json::from_slice(&none.stdout)?;
    ensure!(empty.cells.is_empty() && empty.tags.is_empty(), "no cell ran: {stderr}");
    ensure!(out_dir.join("registry.json").is_file(), "the empty reports are written: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);

    // (b) A run whose images must be pulled; a tag the registry lacks is ERROR in the registry's words.
    let file = MatrixFile::load(&root.join("matrix.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = registry_plan(&file, &image, &["bookworm", "sid", FRESH, MISSING]);
    let run_id = labels::new_run_id();
    let result = run::run(&plan, &run_id, None).await;
    println!("{}", report::table(&result));
    for t in &result.tags {
        println!(
            "tag {}: pulled {:?} in {}, startup (pull included) {}, digest {}, error {}",
            t.tag,
            t.pulled,
            t.pull_secs.map_or("-".to_string(), |s| format!("{s:.2}s")),
            t.startup_secs.map_or("-".to_string(), |s| format!("{s:.2}s")),
            t.image.digest.as_deref().unwrap_or("-"),
            t.error.as_deref().unwrap_or("-")
        );
    }
    for tag in ["bookworm", "sid", FRESH] {
        let t = result.tags.iter().find(|t| t.tag == tag).context("a TagResult per tag")?;
        assert!(t.error.is_none(), "{tag}: {:?}", t.error);
        let digest = t.image.digest.as_deref().unwrap_or_default();
        assert!(
            digest.starts_with(&format!("{image}@sha256:")),
            "{tag}: the digest must be the registry's: {digest:?}"
        );
        assert!(image::is_local(&format!("{image}:{tag}")).await, "{tag} was pulled");
        assert_eq!(t.pulled, Some(true), "{tag}: the report must say it was pulled");
        for column in &plan.columns {
            let cell = result.cell(tag, column.name()).context("a cell per (tag, profile)")?;
            assert_eq!(cell.verdict.outcome, Outcome::Ok, "{}: {}", cell.id(), cell.verdict.cause);
            // A 5 s look cannot prove an OK past the 5-minute mark: unproven, never met.
            assert_eq!(cell.status, Status::Unproven, "{}", cell.id());
        }
    }
    // bookworm's recorded digest is not what the registry serves: one note, with both.
    let bookworm = result.tags.iter().find(|t| t.tag == "bookworm").context("bookworm")?;
    let served = bookworm.image.digest.as_deref().and_then(|d| d.split_once('@')).map(|(_, d)| d).context("a registry digest")?;
    let table = report::table_wide(&result);
    let note = format!("bookworm: image digest changed since the baseline ({STALE_DIGEST} → {served})");
    assert!(table.contains(&note), "{table}");
    assert_eq!(table.matches("image digest changed").count(), 1, "only bookworm has a recorded digest: {table}");
    let missing = result.tags.iter().find(|t| t.tag == MISSING).context("a TagResult for the missing tag")?;
    let why = missing.error.as_deref().unwrap_or_default();
    assert!(why.contains("manifest unknown") || why.contains("not found"), "the registry's answer: {why:?}");
    for column in &plan.columns {
        let cell = result.cell(MISSING, column.name()).context("a cell per (tag, profile)")?;
        assert_eq!(cell.status, Status::Error, "{}", cell.id());
        assert_eq!(cell.verdict.cause, format!("not run: the broker of {MISSING} could not be had"));
    }
    // The registry's words once, for the tag, not once per cell.
    let failures = report::failures(&result);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with(&format!("{MISSING}: ")) && failures[0].contains("manifest unknown"), "{failures:?}");
    assert!(failures[0].contains(" — 2 cells not run"), "{failures:?}");

    drop(registry);
    eprintln!("registry test wall time: {:.1}s", wall.elapsed().as_secs_f64());
    Ok(())
}

/// bookworm and sid with rfc6455 and tcp, OK expected; a short hold (OK then means "alive at 5 s").
fn registry_plan(file: &MatrixFile, image: &str, tags: &[&str]) -> Plan {
    let columns = vec![Column::Builtin(Profile::Rfc6455), Column::Builtin(Profile::Tcp)];
    let ok = Expectation { outcome: Outcome::Ok, at: None, or: None };
    let cells = tags
        .iter()
        .flat_map(|tag| {
            columns.iter().map(move |column| Cell {
                tag: tag.to_string(),
                column: column.clone(),
                route: Route::Direct,
                expect: (*tag != MISSING).then_some(ok),
            })
        })
        .collect();
    let mut timing = file.timing;
    timing.hold = Duration::from_secs(5);
    Plan {
        set: "registry".into(),
        image: image.to_string(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        columns,
        left_out: Vec::new(),
        cells,
        speed: 1,
        timing,
        tolerance: file.tolerance,
        broker: file.broker.clone(),
        workdir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        // As if bookworm had been accepted from another build: the run must notice.
        digests: BTreeMap::from([("bookworm".to_string(), STALE_DIGEST.to_string())]),
        copies: 1,
        jobs: None,
        known_issues: Vec::new(),
        routes: vec![Route::Direct],
        client_mode: mosquitto_matrix::plan::ClientMode::Process,
    }
}

/// A digest no image has, recorded for bookworm in the registry plan.
const STALE_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// One request as the scripted server saw it.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    authorization: Option<String>,
}

/// A registry that answers like Docker Hub: 401 + Bearer challenge, a token service, two pages.
async fn scripted_registry(token_status: u16) -> anyhow::Result<(String, Arc<Mutex<Vec<Seen>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = Arc::clone(&seen);
    let realm = format!("{base}/token");
    tokio::spawn(async move {
        // Bounded: the test makes a handful of requests.
        for _ in 0..32 {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 2048];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).to_string();
            let target = head.split_whitespace().nth(1).unwrap_or_default().to_string();
            let authorization = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("authorization").then(|| v.trim().to_string())
            });
            log.lock().expect("seen log").push(Seen { target: target.clone(), authorization: authorization.clone() });
            let challenge = format!(
                "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"scripted\",scope=\"repository:library/eclipse-mosquitto:pull\"\r\n"
            );
            let (status, extra, body) = if target.starts_with("/token?") {
                if token_status == 200 {
                    (200, String::new(), r#"{"access_token":"tok-123","expires_in":300}"#.to_string())
                } else {
                    (token_status, String::new(), r#"{"details":"scripted refusal"}"#.to_string())
                }
            } else if authorization.as_deref() != Some("Bearer tok-123") {
                (401, challenge, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_string())
            } else if target.contains("last=") {
                (
                    200,
                    String::new(),
                    r#"{"name":"library/eclipse-mosquitto","tags":["2.0.22","2.0.22-openssl","2.1.2-alpine","2.1-alpine","alpine","openssl","1.6.15-openssl"]}"#.to_string(),
                )
            } else {
                let link =
                    "Link: </v2/library/eclipse-mosquitto/tags/list?last=2.0&n=100>; rel=\"next\"\r\n".to_string();
                (200, link, r#"{"name":"library/eclipse-mosquitto","tags":["1.6.15","2","2.0","2.0.9"]}"#.to_string())
            };
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    Ok((base, seen))
}

#[tokio::test]
async fn a_bearer_challenge_is_answered_with_an_anonymous_token_and_pages_are_followed() -> anyhow::Result<()> {
    let (base, seen) = scripted_registry(200).await?;
    let tags = discover::list_tags(&base, "library/eclipse-mosquitto").await?;
    assert_eq!(
        tags,
        ["1.6.15", "2", "2.0", "2.0.9", "2.0.22", "2.0.22-openssl", "2.1.2-alpine", "2.1-alpine", "alpine", "openssl", "1.6.15-openssl"]
    );
    let releases = discover::release_tags(&tags);
    assert_eq!(releases, ["1.6.15", "1.6.15-openssl", "2.0.9", "2.0.22", "2.0.22-openssl", "2.1.2-alpine"]);
    let eclipse = [String::new(), "-alpine".to_string()];
    let listed: Vec<String> = ["1.6.15", "2.0.9"].iter().map(|t| t.to_string()).collect();
    assert_eq!(discover::not_listed(&releases, &listed, &eclipse), ["2.0.22", "2.1.2-alpine"]);
    let seen = seen.lock().expect("seen log").clone();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/v2/library/eclipse-mosquitto/tags/list?n=100",
            "/token?service=scripted&scope=repository%3Alibrary%2Feclipse-mosquitto%3Apull",
            "/v2/library/eclipse-mosquitto/tags/list?n=100",
            "/v2/library/eclipse-mosquitto/tags/list?last=2.0&n=100",
        ]
    );
    assert_eq!(seen[0].authorization, None);
    // The token is asked for once and kept for the next page.
    assert_eq!(seen[2].authorization.as_deref(), Some("Bearer tok-123"));
    assert_eq!(seen[3].authorization.as_deref(), Some("Bearer tok-123"));
    Ok(())
}

#[tokio::test]
async fn a_token_service_refusal_names_its_url_status_and_body() -> anyhow::Result<()> {
    let (base, _) = scripted_registry(403).await?;
    match discover::list_tags(&base, "library/eclipse-mosquitto").await {
        Err(e @ DiscoverError::Status { status: 403, .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("{base}/token?service=scripted")), "{text}");
            assert!(text.contains("HTTP 403") && text.contains("scripted refusal"), "{text}");
            Ok(())
        }
        other => bail!("expected the token service's 403, got {other:?}"),
    }
}
