//! Client releases: which versions each client's own registry serves that matrix.toml's
//! `versions = [...]` lacks (`mosquitto-matrix discover --clients`).
//!
//! Asks PyPI's simple JSON API (PEP 691/700: `GET <index>/<name>/`), the npm registry
//! (`GET <registry>/<name>`), a Maven repository (`GET <repo>/<group path>/<artifact>/maven-metadata.xml`)
//! and the Go module proxy (`GET <proxy>/<escaped module>/@v/list`). Each base URL comes from an
//! environment variable when set ([`Registry`]'s [`base_var`]; tests point them at local
//! stand-ins), else from the machine's own tool for that registry (pip's index, npm's registry,
//! the central repository Maven's super POM names, `go env GOPROXY`), so no host is written
//! here. The answers' parsing is pure and tested here; [`discover_clients`] and [`default_base`]
//! do the I/O. A registry that does not answer is one line for its client; the others go on.

use std::time::Duration;

use crate::plan::releases::{new_releases, NewRelease, Registry, Releases};
use crate::plan::MatrixFile;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an error body goes into a message.
const BODY_IN_MESSAGE: usize = 200;

/// The environment variable that overrides a registry's base URL.
pub fn base_var(registry: Registry) -> &'static str {
    match registry {
        Registry::Pypi => "MATRIX_PYPI_INDEX",
        Registry::Npm => "MATRIX_NPM_REGISTRY",
        Registry::Maven => "MATRIX_MAVEN_REPO",
        Registry::Go => "MATRIX_GOPROXY",
    }
}

/// What discovery found for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientReleases {
    /// The client (`[clients.X]`).
    pub client: String,
    /// Where it is released.
    pub releases: Releases,
    /// The versions served that matrix.toml lacks, newest first; or why the registry could not
    /// be read.
    pub new: Result<Vec<NewRelease>, String>,
}

/// One line per client: what is new, or why its registry could not be read.
pub fn render(found: &[ClientReleases]) -> String {
    let mut out = String::new();
    for c in found {
        let head = format!("{} ({} {})", c.client, c.releases.registry.title(), c.releases.package);
        let line = match &c.new {
            Err(why) => format!("{head}: not read: {why}"),
            Ok(new) if new.is_empty() => format!("{head}: nothing new"),
            Ok(new) => {
                let list: Vec<String> =
                    new.iter().map(|r| if r.prerelease { format!("{} (pre-release)", r.version) } else { r.version.clone() }).collect();
                format!("{head}: {} new: {}", new.len(), list.join(", "))
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The new versions as `--client-versions` input: `paho-python@2.2.0,paho-golang@0.24.0`.
pub fn as_client_versions(found: &[ClientReleases]) -> String {
    found
        .iter()
        .filter_map(|c| c.new.as_ref().ok().map(|n| (c, n)))
        .flat_map(|(c, n)| n.iter().map(move |r| crate::plan::file::versioned_name(&c.client, &r.version)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Versions in a PyPI simple JSON answer (`{"versions": [...]}`, PEP 700), else its files'
/// versions are not guessed: an index without `versions` is said to be unreadable.
pub fn parse_pypi(body: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = v.get("versions").and_then(|l| l.as_array()).ok_or("no \"versions\" list (PEP 700)")?;
    Ok(list.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
}

/// Versions in an npm packument (`{"versions": {"5.16.0": {...}}}`).
pub fn parse_npm(body: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let map = v.get("versions").and_then(|l| l.as_object()).ok_or("no \"versions\" object")?;
    Ok(map.keys().cloned().collect())
}

/// Versions in a `maven-metadata.xml` (`<versions><version>1.2.5</version>…`).
pub fn parse_maven(body: &str) -> Result<Vec<String>, String> {
    let start = body.find("<versions>").ok_or("no <versions> element")?;
    let end = body[start..].find("</versions>").map(|e| start + e).ok_or("<versions> is not closed")?;
    let mut out = Vec::new();
    let mut rest = &body[start..end];
    while let Some(open) = rest.find("<version>") {
        let after = &rest[open + "<version>".len()..];
        let close = after.find("</version>").ok_or("a <version> is not closed")?;
        let v = after[..close].trim();
        if !v.is_empty() {
            out.push(v.to_string());
        }
        rest = &after[close..];
    }
    Ok(out)
}

/// Versions in a Go proxy `@v/list` answer: one per line.
pub fn parse_go_list(body: &str) -> Vec<String> {
    body.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// A module path as the Go proxy protocol spells it: each capital letter as `!` and its
/// lower case.
pub fn escape_module(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The URL that lists `releases`' versions under `base`.
pub fn list_url(releases: &Releases, base: &str) -> String {
    let base = base.trim_end_matches('/');
    let p = &releases.package;
    match releases.registry {
        Registry::Pypi => format!("{base}/{}/", p.to_ascii_lowercase().replace(['_', '.'], "-")),
        Registry::Npm => format!("{base}/{}", p.replace('/', "%2f")),
        Registry::Maven => {
            let (group, artifact) = p.split_once(':').unwrap_or((p, ""));
            format!("{base}/{}/{artifact}/maven-metadata.xml", group.replace('.', "/"))
        }
        Registry::Go => format!("{base}/{}/@v/list", escape_module(p)),
    }
}

/// The first proxy URL of a `GOPROXY` value (`https://a,direct` or `a|b`), skipping `direct`
/// and `off`.
pub fn first_goproxy(value: &str) -> Option<String> {
    value.split([',', '|']).map(str::trim).find(|p| p.starts_with("http://") || p.starts_with("https://") || p.starts_with("file://")).map(str::to_string)
}

/// Runs a program and returns its first non-empty line of output.
async fn first_line(program: &str, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("{program}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(l) if out.status.success() && l != "undefined" => Ok(l.to_string()),
        _ => Err(format!("`{program} {}` named none", args.join(" "))),
    }
}

/// Where `registry` is asked when its variable is not set: what this machine's own tool for it
/// uses.
pub async fn default_base(registry: Registry) -> Result<String, String> {
    let unset = |why: String| format!("{why}; set {} to its base URL", base_var(registry));
    match registry {
        Registry::Pypi => match first_line("python3", &["-m", "pip", "config", "get", "global.index-url"]).await {
            Ok(url) => Ok(url),
            Err(_) => first_line("python3", &["-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"]).await.map_err(unset),
        },
        Registry::Npm => first_line("npm", &["config", "get", "registry"]).await.map_err(unset),
        Registry::Maven => first_line(
            "python3",
            &[
                "-c",
                "import glob, os, re, shutil, zipfile\n\
                 mvn = shutil.which('mvn')\n\
                 jars = ['/usr/share/java/maven3-model-builder.jar'] + (glob.glob(os.path.join(os.path.dirname(os.path.realpath(mvn)), '..', 'lib', 'maven-model-builder-*.jar')) if mvn else [])\n\
                 jar = next(j for j in jars if os.path.isfile(j))\n\
                 pom = zipfile.ZipFile(jar).read('org/apache/maven/model/pom-4.0.0.xml').decode()\n\
                 print(re.findall(r'<url>([^<]+)</url>', pom)[0])",
            ],
        )
        .await
        .map_err(|e| unset(format!("{e} (Maven's super POM, from Debian's libmaven3-core-java or the lib folder of the mvn on PATH)"))),
        Registry::Go => {
            let value = first_line("go", &["env", "GOPROXY"]).await.map_err(unset)?;
            first_goproxy(&value).ok_or_else(|| unset(format!("GOPROXY={value} names no proxy URL")))
        }
    }
}

/// The base URL for `registry`: its variable, else [`default_base`].
pub async fn base(registry: Registry) -> Result<String, String> {
    match std::env::var(base_var(registry)) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => default_base(registry).await,
    }
}

/// The versions `releases` serves at `base`.
pub async fn list_versions(http: &reqwest::Client, releases: &Releases, base: &str) -> Result<Vec<String>, String> {
    let url = list_url(releases, base);
    let mut req = http.get(&url);
    if releases.registry == Registry::Pypi {
        req = req.header(reqwest::header::ACCEPT, "application/vnd.pypi.simple.v1+json");
    }
    let resp = req.send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !status.is_success() {
        let start: String = body.chars().take(BODY_IN_MESSAGE).collect();
        return Err(format!("GET {url}: HTTP {}: {}", status.as_u16(), start.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    let parsed = match releases.registry {
        Registry::Pypi => parse_pypi(&body),
        Registry::Npm => parse_npm(&body),
        Registry::Maven => parse_maven(&body),
        Registry::Go => Ok(parse_go_list(&body)),
    };
    parsed.map_err(|why| format!("GET {url}: unexpected answer: {why}"))
}

/// The HTTP client: besides its own roots it trusts the machine's CA bundle (`SSL_CERT_FILE`,
/// else Debian's `/etc/ssl/certs/ca-certificates.crt`), as pip, npm and curl here do, so a
/// registry reached through a proxy with its own CA answers as it does for them.
pub fn http_client() -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).user_agent(concat!("mosquitto-matrix/", env!("CARGO_PKG_VERSION")));
    let bundle = std::env::var("SSL_CERT_FILE").unwrap_or_else(|_| "/etc/ssl/certs/ca-certificates.crt".to_string());
    if let Ok(pem) = std::fs::read(&bundle) {
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("{bundle}: {e}"))?;
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Asks each versioned client's registry (matrix.toml's `releases`) which versions it serves,
/// and keeps those the file lacks. Clients without `releases` are not asked.
pub async fn discover_clients(file: &MatrixFile) -> Vec<ClientReleases> {
    let http = match http_client() {
        Ok(h) => h,
        Err(e) => {
            return file
                .versioned
                .iter()
                .filter_map(|f| f.releases.clone().map(|r| ClientReleases { client: f.client.clone(), releases: r, new: Err(e.clone()) }))
                .collect()
        }
    };
    let mut out = Vec::new();
    for family in &file.versioned {
        let Some(releases) = family.releases.clone() else { continue };
        let new = match base(releases.registry).await {
            Err(why) => Err(why),
            Ok(b) => list_versions(&http, &releases, &b).await.map(|served| new_releases(&served, &family.versions)),
        };
        out.push(ClientReleases { client: family.client.clone(), releases, new });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_registrys_answer_gives_its_versions() {
        assert_eq!(parse_pypi(r#"{"meta":{"api-version":"1.1"},"name":"paho-mqtt","versions":["1.6.1","2.2.0"],"files":[]}"#), Ok(vec!["1.6.1".into(), "2.2.0".into()]));
        assert!(parse_pypi(r#"{"files":[]}"#).expect_err("no versions").contains("PEP 700"));
        assert_eq!(parse_npm(r#"{"name":"mqtt","versions":{"4.3.8":{},"5.16.0":{}}}"#), Ok(vec!["4.3.8".into(), "5.16.0".into()]));
        let xml = "<metadata><versioning><latest>1.2.5</latest><versions>\n<version>1.2.4</version>\n<version> 1.2.5 </version></versions></versioning></metadata>";
        assert_eq!(parse_maven(xml), Ok(vec!["1.2.4".into(), "1.2.5".into()]));
        assert!(parse_maven("<metadata/>").is_err());
        assert_eq!(parse_go_list("v0.22.0\nv0.23.0\n\n"), vec!["v0.22.0".to_string(), "v0.23.0".to_string()]);
    }

    #[test]
    fn list_urls_follow_each_registrys_protocol() {
        let r = |s: &str| Releases::parse(s).expect("valid");
        assert_eq!(list_url(&r("pypi:Paho_MQTT"), "http://127.0.0.1:9/simple/"), "http://127.0.0.1:9/simple/paho-mqtt/");
        assert_eq!(list_url(&r("npm:@scope/pkg"), "http://h"), "http://h/@scope%2fpkg");
        assert_eq!(
            list_url(&r("maven:org.eclipse.paho:org.eclipse.paho.mqttv5.client"), "http://h/m2"),
            "http://h/m2/org/eclipse/paho/org.eclipse.paho.mqttv5.client/maven-metadata.xml"
        );
        assert_eq!(list_url(&r("go:github.com/BurntSushi/toml"), "http://h"), "http://h/github.com/!burnt!sushi/toml/@v/list");
        assert_eq!(first_goproxy("https://p.example,direct").as_deref(), Some("https://p.example"));
        assert_eq!(first_goproxy("off"), None);
    }

    #[test]
    fn the_report_marks_pre_releases_and_a_registry_that_did_not_answer() {
        let found = vec![
            ClientReleases {
                client: "paho-python".into(),
                releases: Releases::parse("pypi:paho-mqtt").expect("valid"),
                new: Ok(vec![NewRelease { version: "2.3.0rc1".into(), prerelease: true }, NewRelease { version: "2.2.0".into(), prerelease: false }]),
            },
            ClientReleases { client: "mqttjs".into(), releases: Releases::parse("npm:mqtt").expect("valid"), new: Err("GET x: HTTP 503: busy".into()) },
            ClientReleases { client: "paho-go".into(), releases: Releases::parse("go:github.com/eclipse/paho.mqtt.golang").expect("valid"), new: Ok(vec![]) },
        ];
        assert_eq!(
            render(&found),
            "paho-python (PyPI paho-mqtt): 2 new: 2.3.0rc1 (pre-release), 2.2.0\n\
             mqttjs (npm mqtt): not read: GET x: HTTP 503: busy\n\
             paho-go (Go module proxy github.com/eclipse/paho.mqtt.golang): nothing new\n"
        );
        assert_eq!(as_client_versions(&found), "paho-python@2.3.0rc1,paho-python@2.2.0");
    }
}
