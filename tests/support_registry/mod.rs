//! A real local registry for the tests: Debian's `docker-registry` on a free loopback port,
//! images pushed into it, and a guard that stops it and removes every image reference it
//! made, even when a test fails.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use futures_util::StreamExt as _;
use testcontainers::bollard::errors::Error as BollardError;
use testcontainers::bollard::query_parameters::{PushImageOptionsBuilder, RemoveImageOptions, TagImageOptionsBuilder};

/// Where docker/registry.sh unpacks Debian's registry (no package, no service); then where
/// Debian's package installs it. `MATRIX_REGISTRY_BIN` may name another.
pub fn registry_bin() -> String {
    if let Ok(bin) = std::env::var("MATRIX_REGISTRY_BIN") {
        return bin;
    }
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/docker-registry/usr/bin/docker-registry");
    if ours.is_file() {
        return ours.display().to_string();
    }
    "/usr/bin/docker-registry".to_string()
}
/// How long the registry may take to answer `/v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running registry; dropping it stops it and removes what it left in the engine.
pub struct LocalRegistry {
    /// `127.0.0.1:PORT`, the registry part of image names.
    pub host: String,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    dir: PathBuf,
    child: Option<Child>,
    /// The local images pushed from, whose references under [`Self::host`] must go.
    sources: Vec<String>,
}

fn free_loopback_port() -> anyhow::Result<u16> {
    // The registry binds it a moment later; another process taking it then makes the
    // registry exit, which `start` reports.
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr()?.port())
}

impl LocalRegistry {
    /// Starts `docker-registry serve` with a five-line config, storage in a fresh temp dir.
    pub async fn start() -> anyhow::Result<LocalRegistry> {
        let bin = registry_bin();
        if !Path::new(&bin).is_file() {
            bail!("{bin} is missing: this test runs a real registry; install Debian's docker-registry (bash docker/registry.sh)");
        }
        let port = free_loopback_port()?;
        let dir = std::env::temp_dir().join(format!("mosquitto-matrix-registry-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).with_context(|| format!("creating {}", dir.display()))?;
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("data").display()
            ),
        )?;
        let log = std::fs::File::create(dir.join("registry.log"))?;
        let child = Command::new(&bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {bin} serve {}", config.display()))?;
        let host = format!("127.0.0.1:{port}");
        let mut registry =
            LocalRegistry { base_url: format!("http://{host}"), host, dir, child: Some(child), sources: Vec::new() };
        registry.wait_ready().await?;
        Ok(registry)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let url = format!("{}/v2/", self.base_url);
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("docker-registry exited ({status}) before answering {url}; its log: {}", self.log_tail());
                }
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("docker-registry did not answer {url} within {READY_TIMEOUT:?}; its log: {}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines the registry logged.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("registry.log")) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join(" | ")
    }

    /// `127.0.0.1:PORT/<repository>`.
    pub fn image(&self, repository: &str) -> String {
        format!("{}/{repository}", self.host)
    }

    /// Tags local `source` as `<this registry>/<repository>:<tag>`, pushes it, and returns the push time.
    pub async fn push(&mut self, source: &str, repository: &str, tag: &str) -> anyhow::Result<Duration> {
        let docker =
            testcontainers::core::client::docker_client_instance().await.context("connecting to the Docker engine")?;
        let target = self.image(repository);
        if !self.sources.iter().any(|s| s == source) {
            self.sources.push(source.to_string());
        }
        docker
            .tag_image(source, Some(TagImageOptionsBuilder::new().repo(&target).tag(tag).build()))
            .await
            .with_context(|| format!("docker tag {source} {target}:{tag}"))?;
        let started = Instant::now();
        let mut push = docker.push_image(&target, Some(PushImageOptionsBuilder::new().tag(tag).build()), None);
        while let Some(step) = push.next().await {
            let step = step.with_context(|| format!("docker push {target}:{tag}"))?;
            if let Some(e) = step.error_detail.and_then(|d| d.message) {
                bail!("docker push {target}:{tag}: {e}");
            }
        }
        Ok(started.elapsed())
    }

    /// Removes the engine's `<this registry>/…:<tag>` reference, so starting it must pull.
    pub async fn forget_local(&self, repository: &str, tag: &str) -> anyhow::Result<()> {
        let docker = testcontainers::core::client::docker_client_instance().await?;
        let name = format!("{}:{tag}", self.image(repository));
        docker
            .remove_image(&name, None::<RemoveImageOptions>, None)
            .await
            .with_context(|| format!("docker rmi {name}"))?;
        Ok(())
    }
}

/// Removes every tag and digest reference under `prefix` from the images `sources` name.
///
/// Never by force and never the sources themselves: the images stay under their own names.
async fn remove_references(sources: &[String], prefix: &str) -> anyhow::Result<()> {
    let docker = testcontainers::core::client::docker_client_instance().await?;
    let mut failures = Vec::new();
    for source in sources {
        let inspect = docker.inspect_image(source).await.with_context(|| format!("docker inspect {source}"))?;
        let refs = inspect.repo_tags.unwrap_or_default().into_iter().chain(inspect.repo_digests.unwrap_or_default());
        for r in refs.filter(|r| r.starts_with(prefix)) {
            match docker.remove_image(&r, None::<RemoveImageOptions>, None).await {
                // The engine drops a repository's digest references with its last tag.
                Ok(_) | Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(e) => failures.push(format!("docker rmi {r}: {e}")),
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(failures.join("; ")))
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let sources = std::mem::take(&mut self.sources);
        let prefix = format!("{}/", self.host);
        // Drop cannot await, and may run inside a runtime: clean up on a thread of its own.
        let cleaned = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(remove_references(&sources, &prefix)))
        })
        .join();
        match cleaned {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("local registry clean-up: {e:#}"),
            Err(_) => eprintln!("local registry clean-up panicked"),
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("local registry clean-up: cannot remove {}: {e}", self.dir.display());
        }
    }
}
