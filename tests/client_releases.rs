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

/// What the stand-ins serve, by path: status and body.
fn answers() -> HashMap<&'static str, (u16, &'static str)> {
    HashMap::from([
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
    ])
}

/// Serves `answers` on 127.0.0.1 (a port the system picks), one request per connection.
async fn stand_in() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("bind a loopback port")?;
    let base = format!("http://{}", listener.local_addr()?);
    let answers = Arc::new(answers());
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
                let (status, body) = answers.get(path.as_str()).copied().unwrap_or((404, "not here"));
                let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = sock.write_all(reply.as_bytes()).await;
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
    let base = stand_in().await?;
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
    Ok(())
}
