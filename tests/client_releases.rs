//! `mosquitto-matrix discover --clients` against local stand-ins of each registry API: PyPI's
//! simple JSON, the npm registry, a Maven repository's maven-metadata.xml and the Go module
//! proxy's `@v/list`, all served by one scripted HTTP server on 127.0.0.1. It must list exactly
//! the versions each stand-in serves that the shipped matrix.toml lacks, newest first, mark the
//! pre-releases, and give one line for the registry that does not answer while the others go on.
//! No public registry is asked: every base URL is set through its environment variable.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

mod support_pypi;

/// What a stand-in serves, by path: status and body.
type Answers = HashMap<String, (u16, Vec<u8>)>;

/// What the stand-ins serve, by path: status and body.
fn answers() -> Answers {
    let fixed: [(&str, (u16, &str)); 7] = [
        (
            "/pypi/simple/paho-mqtt/",
            (200, r#"{"meta":{"api-version":"1.1"},"name":"paho-mqtt","versions":["1.5.1","1.6.1","2.0.0","2.1.0","2.2.0","2.3.0rc1"],"files":[]}"#),
        ),
        ("/npm/mqtt", (200, r#"{"name":"mqtt","versions":{"4.3.8":{},"5.16.0":{},"5.17.0":{},"6.0.0-beta.1":{}}}"#)),
        (
            "/m2/org/eclipse/paho/org.eclipse.paho.client.mqttv3/maven-metadata.xml",
            (200, "<metadata><versioning><versions><version>1.0.2</version><version>1.1.0</version><version>1.1.1</version><version>1.2.0</version><version>1.2.1</version><version>1.2.2</version><version>1.2.3</version><version>1.2.4</version><version>1.2.5</version></versions></versioning></metadata>"),
        ),
        ("/m2/org/eclipse/paho/org.eclipse.paho.mqttv5.client/maven-metadata.xml", (200, "<metadata><versioning><versions><version>1.2.5</version></versions></versioning></metadata>")),
        ("/m2/com/hivemq/hivemq-mqtt-client/maven-metadata.xml", (503, "stand-in is down on purpose")),
        ("/go/github.com/eclipse/paho.mqtt.golang/@v/list", (200, "v1.2.0\nv1.4.3\nv1.5.0\nv1.5.1\n")),
        ("/go/github.com/eclipse/paho.golang/@v/list", (200, "v0.22.0\nv0.23.0\n")),
    ];
    fixed.into_iter().map(|(path, (status, body))| (path.to_string(), (status, body.as_bytes().to_vec()))).collect()
}

/// Serves `answers` on 127.0.0.1 (a port the system picks), one request per connection; a body
/// that starts with `{` under `/simple/` is PyPI's JSON (PEP 691), as pip wants it said.
async fn stand_in(answers: Answers) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("bind a loopback port")?;
    let base = format!("http://{}", listener.local_addr()?);
    let answers = Arc::new(answers);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, body) = answers.get(path.as_str()).cloned().unwrap_or((404, b"not here".to_vec()));
                let kind = if path.contains("/simple/") && body.starts_with(b"{") { "application/vnd.pypi.simple.v1+json" } else { "application/octet-stream" };
                let head = format!("HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(base)
}

/// Runs `mosquitto-matrix discover --clients ARGS` with every registry pointed at `base`.
async fn discover(base: &str, args: &[&str]) -> anyhow::Result<std::process::Output> {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_mosquitto-matrix"))
        .arg("--config")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/matrix.toml"))
        .args(["discover", "--clients"])
        .args(args)
        .env("MATRIX_PYPI_INDEX", format!("{base}/pypi/simple/"))
        .env("MATRIX_NPM_REGISTRY", format!("{base}/npm"))
        .env("MATRIX_MAVEN_REPO", format!("{base}/m2"))
        .env("MATRIX_GOPROXY", format!("{base}/go"))
        .output()
        .await
        .context("the CLI runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_clients_lists_exactly_what_each_stand_in_serves_and_matrix_toml_lacks() -> anyhow::Result<()> {
    let base = stand_in(answers()).await?;
    let out = discover(&base, &[]).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let hivemq = format!("hivemq (Maven com.hivemq:hivemq-mqtt-client): not read: GET {base}/m2/com/hivemq/hivemq-mqtt-client/maven-metadata.xml: HTTP 503: stand-in is down on purpose");
    // matrix.toml's [clients.*] order.
    let want = [
        "paho-java (Maven org.eclipse.paho:org.eclipse.paho.client.mqttv3): 1 new: 1.0.2",
        "paho-python (PyPI paho-mqtt): 1 new: 2.3.0rc1 (pre-release)",
        "mqttjs (npm mqtt): 2 new: 6.0.0-beta.1 (pre-release), 5.17.0",
        "paho-go (Go module proxy github.com/eclipse/paho.mqtt.golang): 3 new: 1.5.0, 1.4.3, 1.2.0",
        "paho-golang (Go module proxy github.com/eclipse/paho.golang): 1 new: 0.22.0",
        "paho-java-v5 (Maven org.eclipse.paho:org.eclipse.paho.mqttv5.client): nothing new",
        hivemq.as_str(),
    ];
    assert_eq!(lines, want, "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "a registry that did not answer makes the exit status 2");

    let only = discover(&base, &["--new-only"]).await?;
    assert_eq!(
        String::from_utf8_lossy(&only.stdout).trim(),
        "paho-java@1.0.2,paho-python@2.3.0rc1,mqttjs@6.0.0-beta.1,mqttjs@5.17.0,paho-go@1.5.0,paho-go@1.4.3,paho-go@1.2.0,paho-golang@0.22.0"
    );
    assert_eq!(String::from_utf8_lossy(&only.stderr).trim(), hivemq, "the failing registry is one line on stderr");

    // What the nightly runs: only releases after the newest listed, no pre-release.
    let newer = discover(&base, &["--newer", "--new-only"]).await?;
    assert_eq!(String::from_utf8_lossy(&newer.stdout).trim(), "mqttjs@5.17.0");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_version_no_registry_serves_is_one_error_naming_what_it_offers() -> anyhow::Result<()> {
    let base = stand_in(answers()).await?;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mosquitto-matrix"))
        .arg("--config")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/matrix.toml"))
        .args(["run", "--set", "debian", "--tags", "bookworm", "--hold", "1s", "--client-versions", "paho-python@9.9.9"])
        .env("MATRIX_PYPI_INDEX", format!("{base}/pypi/simple/"))
        .env("MATRIX_OUT", std::env::temp_dir().join("mosquitto-matrix-no-such-release"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("the CLI runs")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "mosquitto-matrix: cannot install paho-python@9.9.9 on demand: paho-python 9.9.9 is not a release of paho-mqtt at PyPI: \
         it serves 2.3.0rc1, 2.2.0, 2.1.0, 2.0.0, 1.6.1, 1.5.1 (newest first)",
        "one line, before any broker starts"
    );
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}

/// A temporary copy of the files `clients/setup.sh --client paho-python@…` needs, removed on drop.
struct Tree(std::path::PathBuf);

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tree_with(files: &[&str]) -> anyhow::Result<Tree> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
    let dir = Tree(std::env::temp_dir().join(format!("mosquitto-matrix-ondemand-{}-{nanos}", std::process::id())));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in files {
        let to = dir.0.join(f);
        std::fs::create_dir_all(to.parent().context("a parent")?)?;
        std::fs::copy(root.join(f), &to).with_context(|| format!("copy {f}"))?;
    }
    Ok(dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_released_version_matrix_toml_lacks_is_installed_on_demand_locked_by_the_hash_of_its_download() -> anyhow::Result<()> {
    use mosquitto_matrix::engine::ondemand::install;
    use mosquitto_matrix::plan::ondemand::OnDemand;
    use mosquitto_matrix::plan::releases::Releases;

    let tree = tree_with(&["clients/setup.sh", "clients/paho-python/hold.py", "clients/paho-python/build-requirements.txt"])?;
    let version = "0.0.7";
    let wheel = support_pypi::make_wheel(&tree.0, version)?;
    let bytes = std::fs::read(&wheel)?;
    let sum = std::process::Command::new("sha256sum").arg(&wheel).output().context("sha256sum runs")?;
    let hash: String = String::from_utf8_lossy(&sum.stdout).chars().take(64).collect();
    let name = wheel.file_name().context("a file name")?.to_string_lossy().to_string();
    let index = format!(
        r#"{{"meta":{{"api-version":"1.1"}},"name":"paho-mqtt","versions":["0.0.6","{version}"],"files":[{{"filename":"{name}","url":"/files/{name}","hashes":{{"sha256":"{hash}"}}}}]}}"#
    );
    let base = stand_in(HashMap::from([
        ("/pypi/simple/paho-mqtt/".to_string(), (200, index.into_bytes())),
        (format!("/files/{name}"), (200, bytes)),
    ]))
    .await?;
    // The harness and the set-up it starts read the index from here (the only test here that
    // sets it in its own environment; the others give it to their child alone).
    std::env::set_var("MATRIX_PYPI_INDEX", format!("{base}/pypi/simple/"));
    std::env::set_var("PIP_NO_CACHE_DIR", "1");
    let od = OnDemand { client: "paho-python".into(), version: version.into(), releases: Releases::parse("pypi:paho-mqtt").map_err(anyhow::Error::msg)? };
    let mut said = Vec::new();
    install(std::slice::from_ref(&od), &tree.0, &mut |l| said.push(l)).await?;
    assert_eq!(
        said[0],
        "installing paho-python@0.0.7 on demand (PyPI paho-mqtt) into target/clients/paho-python/0.0.7, its lock in target/clients/locks/paho-python/0.0.7"
    );
    assert!(said.iter().any(|l| l.trim_start().starts_with("paho-python@0.0.7") && l.contains("built")), "{said:?}");
    let lock = std::fs::read_to_string(tree.0.join("target/clients/locks/paho-python/0.0.7/requirements.txt"))?;
    assert!(lock.contains(&format!("paho-mqtt==0.0.7 --hash=sha256:{hash}")), "pinned by exact version and the download's hash:\n{lock}");
    let artefact = std::fs::read_to_string(tree.0.join("target/clients/paho-python/0.0.7/artefact"))?;
    assert!(artefact.starts_with(&format!("sha256:{hash} paho-mqtt==0.0.7 (PyPI")), "the result JSON's artefact line: {artefact}");
    assert!(!tree.0.join("clients/paho-python/0.0.7").exists(), "nothing outside target/ changes");

    // Locked on first use: a lock that no longer matches the download is refused, naming both.
    let bad = lock.replace(&hash, &format!("{}0", &hash[..63]));
    std::fs::write(tree.0.join("target/clients/locks/paho-python/0.0.7/requirements.txt"), &bad)?;
    let err = install(std::slice::from_ref(&od), &tree.0, &mut |_| {}).await.expect_err("a changed lock must fail");
    assert!(err.to_string().contains(&format!("paho-mqtt==0.0.7: sha256 mismatch: the lock says {}0, the download is {hash}", &hash[..63])), "{err}");
    Ok(())
}

#[test]
fn a_java_client_whose_pom_has_dependencies_is_not_installed_on_demand_and_says_why() -> anyhow::Result<()> {
    let tree = tree_with(&["clients/setup.sh", "clients/hivemq/Hold.java"])?;
    let pom = tree.0.join("m2/com/hivemq/hivemq-mqtt-client/9.9.9/hivemq-mqtt-client-9.9.9.pom");
    std::fs::create_dir_all(pom.parent().context("a parent")?)?;
    std::fs::write(
        &pom,
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0"><dependencies>
             <dependency><groupId>io.netty</groupId><artifactId>netty-buffer</artifactId><version>4.1.1</version></dependency>
             <dependency><groupId>org.jetbrains</groupId><artifactId>annotations</artifactId><scope>provided</scope></dependency>
           </dependencies></project>"#,
    )?;
    let out = std::process::Command::new("bash")
        .args(["clients/setup.sh", "--client", "hivemq@9.9.9"])
        .current_dir(&tree.0)
        .env("MATRIX_MAVEN_REPO", format!("file://{}", tree.0.join("m2").display()))
        .stdin(std::process::Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("FAILED: com.hivemq:hivemq-mqtt-client:9.9.9 depends on io.netty:netty-buffer: on demand installs only a jar without dependencies"),
        "{text}"
    );
    Ok(())
}
