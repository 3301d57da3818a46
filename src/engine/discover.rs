//! Discovery: which release tags an image repository has that matrix.toml's set does not list.
//!
//! Reads the registry HTTP API v2 (`/v2/<name>/tags/list`), following `Link: rel="next"`
//! pagination and answering the anonymous bearer-token challenge that Docker Hub sends.
//! The parsing (tags, challenge, links, image names) is pure and tested here; only
//! [`list_tags`] and [`discover`] do I/O (HTTP to the registry; never the engine).

use std::fmt;
use std::time::Duration;

use crate::plan::file::is_variant;
use crate::plan::ImageSet;

/// The registry an image name without a registry host lives in: Docker Hub, as the engine does.
pub const DEFAULT_REGISTRY: &str = "https://registry-1.docker.io";
/// Tags asked for per page; registries may answer with fewer and a `Link` to the next page.
pub const PAGE_SIZE: usize = 100;
/// A bound on pages, so a registry whose `Link`s loop cannot hold a run forever.
const MAX_PAGES: usize = 1000;
/// How much of an error body goes into a message.
const BODY_IN_MESSAGE: usize = 400;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why tags could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The request could not be sent or its answer not read.
    #[error("GET {url}: {why}")]
    Request {
        /// The URL asked.
        url: String,
        /// The HTTP client's words.
        why: String,
    },
    /// The registry (or its token service) answered with an error status.
    #[error("GET {url}: HTTP {status}: {body}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the answer's body, as the registry wrote it.
        body: String,
    },
    /// The registry asked for credentials in a way an anonymous client cannot answer.
    #[error("GET {url}: HTTP 401 with a challenge an anonymous client cannot answer: WWW-Authenticate: {challenge}")]
    Unanswerable {
        /// The URL asked.
        url: String,
        /// The `WWW-Authenticate` header, or `(none)`.
        challenge: String,
    },
    /// The answer was not what the API describes.
    #[error("GET {url}: unexpected answer: {why}")]
    Answer {
        /// The URL asked.
        url: String,
        /// What was wrong with it.
        why: String,
    },
    /// The `Link` headers did not end.
    #[error("GET {url}: still a next page after {pages} pages; giving up")]
    Endless {
        /// The last URL asked.
        url: String,
        /// Pages read.
        pages: usize,
    },
}

/// A `WWW-Authenticate: Bearer …` challenge: where to get a token and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The token service URL.
    pub realm: String,
    /// The `service` parameter to pass on, if given.
    pub service: Option<String>,
    /// The `scope` parameter to pass on, if given.
    pub scope: Option<String>,
}

/// A release tag: `MAJOR.MINOR.PATCH`, digits only, and an optional variant suffix
/// (`2.0.22`, `2.1.2-alpine`, `1.6.15-openssl`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReleaseTag {
    /// `[MAJOR, MINOR, PATCH]`.
    pub version: [u64; 3],
    /// `""` for the bare tag, else the suffix with its dash: `-alpine`.
    pub variant: String,
}

impl ReleaseTag {
    /// Reads a tag; `None` for `latest`, `2`, `2.0`, `2.0-openssl`, `bookworm` and the like.
    pub fn parse(tag: &str) -> Option<ReleaseTag> {
        let (number, variant) = match tag.find('-') {
            Some(i) => tag.split_at(i),
            None => (tag, ""),
        };
        let version = version(number)?;
        is_variant(variant).then(|| ReleaseTag { version, variant: variant.to_string() })
    }

    /// `MAJOR.MINOR.PATCH`, without the variant.
    pub fn release(&self) -> String {
        let [a, b, c] = self.version;
        format!("{a}.{b}.{c}")
    }

    /// The tag as the registry names it.
    pub fn tag(&self) -> String {
        format!("{}{}", self.release(), self.variant)
    }
}

/// Keeps the release tags, bare or with a variant suffix, in version order (the bare tag
/// before its variants).
///
/// `latest`, `2`, `2.0`, `2.0-openssl`, `bookworm` and the like are left out.
pub fn release_tags(tags: &[String]) -> Vec<String> {
    let mut releases: Vec<ReleaseTag> = tags.iter().filter_map(|t| ReleaseTag::parse(t)).collect();
    releases.sort();
    releases.dedup();
    releases.iter().map(ReleaseTag::tag).collect()
}

fn version(tag: &str) -> Option<[u64; 3]> {
    let mut parts = tag.split('.');
    let mut v = [0u64; 3];
    for slot in &mut v {
        let p = parts.next()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    parts.next().is_none().then_some(v)
}

/// The release tags whose variant `variants` does not follow (e.g. `-openssl`), in the order given.
pub fn not_followed(releases: &[String], variants: &[String]) -> Vec<String> {
    releases
        .iter()
        .filter(|t| ReleaseTag::parse(t).is_some_and(|r| !variants.contains(&r.variant)))
        .cloned()
        .collect()
}

/// The releases to propose for a set, one tag each, in version order.
///
/// A release counts as listed when `listed` has it under any variant the set follows
/// (`2.1.2-alpine` lists 2.1.2 for `variants = ["", "-alpine"]`). Each other release is
/// proposed under the first followed variant, in `variants`' order, that the registry has:
/// with `["", "-alpine"]`, the bare tag when it exists, else `-alpine`. A release the
/// registry has only under variants the set does not follow is not proposed.
pub fn not_listed(releases: &[String], listed: &[String], variants: &[String]) -> Vec<String> {
    let parsed: Vec<ReleaseTag> = releases.iter().filter_map(|t| ReleaseTag::parse(t)).collect();
    let mut numbers: Vec<[u64; 3]> = parsed.iter().map(|r| r.version).collect();
    numbers.sort();
    numbers.dedup();
    let mut proposed = Vec::new();
    for number in numbers {
        let under = |variant: &String| ReleaseTag { version: number, variant: variant.clone() }.tag();
        if variants.iter().any(|v| listed.contains(&under(v))) {
            continue;
        }
        let has = |variant: &&String| parsed.iter().any(|r| r.version == number && &r.variant == *variant);
        if let Some(v) = variants.iter().find(has) {
            proposed.push(under(v));
        }
    }
    proposed
}

/// Parses a `WWW-Authenticate` header; `Some` only for a `Bearer` challenge with a realm.
pub fn parse_bearer_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut challenge = Challenge { realm: String::new(), service: None, scope: None };
    for (key, value) in auth_params(rest)? {
        match key.to_ascii_lowercase().as_str() {
            "realm" => challenge.realm = value,
            "service" => challenge.service = Some(value),
            "scope" => challenge.scope = Some(value),
            _ => {}
        }
    }
    (!challenge.realm.is_empty()).then_some(challenge)
}

/// Splits `k1="v, 1",k2=v2` into pairs; quoted values may hold commas and `\"` escapes.
fn auth_params(text: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return None;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        pairs.push((key, value));
    }
}

/// The target of the `rel="next"` link in a `Link` header (RFC 8288), as written (often relative).
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        // This link's parameters run to the next link's '<'.
        let params = &after[..after.find('<').unwrap_or(after.len())];
        let is_next = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else { return false };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = after;
    }
    None
}

/// Where an image repository's tags are listed: `(registry base URL, repository path)`.
///
/// `eclipse-mosquitto` is Docker Hub's `library/eclipse-mosquitto`; a first component with a
/// `.` or `:`, or `localhost`, is a registry host, reached over plain HTTP when it is loopback.
/// A `:tag` or `@digest` at the end is dropped.
pub fn registry_for_image(image: &str) -> (String, String) {
    let image = image.split_once('@').map_or(image, |(name, _)| name);
    let image = match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => image,
    };
    let (host, path) = match image.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, image),
    };
    match host {
        None if path.contains('/') => (DEFAULT_REGISTRY.to_string(), path.to_string()),
        None => (DEFAULT_REGISTRY.to_string(), format!("library/{path}")),
        Some(h) => {
            let scheme = if is_loopback_host(h) { "http" } else { "https" };
            (format!("{scheme}://{h}"), path.to_string())
        }
    }
}

fn is_loopback_host(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Lists every tag of `repository` at `registry_base_url` (e.g. `http://127.0.0.1:5000`).
pub async fn list_tags(registry_base_url: &str, repository: &str) -> Result<Vec<String>, DiscoverError> {
    list_tags_paged(registry_base_url, repository, PAGE_SIZE).await
}

/// [`list_tags`], asking for `page_size` tags per page (`?n=`).
pub async fn list_tags_paged(
    registry_base_url: &str,
    repository: &str,
    page_size: usize,
) -> Result<Vec<String>, DiscoverError> {
    let base = registry_base_url.trim_end_matches('/');
    let first = format!("{base}/v2/{repository}/tags/list?n={page_size}");
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("mosquitto-matrix/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DiscoverError::Request { url: first.clone(), why: error_chain(&e) })?;
    let mut url =
        reqwest::Url::parse(&first).map_err(|e| DiscoverError::Request { url: first.clone(), why: e.to_string() })?;
    let mut token: Option<String> = None;
    let mut tags = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = get_page(&client, &url, &mut token).await?;
        tags.extend(page.tags);
        let Some(next) = page.next else {
            return Ok(tags);
        };
        url = url.join(&next).map_err(|e| DiscoverError::Answer {
            url: url.to_string(),
            why: format!("Link target {next:?} is not a URL: {e}"),
        })?;
    }
    Err(DiscoverError::Endless { url: url.to_string(), pages: MAX_PAGES })
}

struct Page {
    tags: Vec<String>,
    next: Option<String>,
}

#[derive(serde::Deserialize)]
struct TagList {
    // `null` from some registries for a repository with no tags.
    tags: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

/// One page, answering a bearer challenge once; the token is kept for the next pages.
async fn get_page(
    client: &reqwest::Client,
    url: &reqwest::Url,
    token: &mut Option<String>,
) -> Result<Page, DiscoverError> {
    let mut answered_challenge = false;
    loop {
        let mut request = client.get(url.clone());
        if let Some(t) = token.as_deref() {
            request = request.bearer_auth(t);
        }
        let response =
            request.send().await.map_err(|e| DiscoverError::Request { url: url.to_string(), why: error_chain(&e) })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED && !answered_challenge {
            let header = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(none)")
                .to_string();
            let Some(challenge) = parse_bearer_challenge(&header) else {
                return Err(DiscoverError::Unanswerable { url: url.to_string(), challenge: header });
            };
            *token = Some(fetch_token(client, &challenge).await?);
            answered_challenge = true;
            continue;
        }
        if !status.is_success() {
            return Err(status_error(url.as_str(), response).await);
        }
        let next = response
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        let (list, _): (TagList, _) = json_body(url.as_str(), response, "a tag list").await?;
        return Ok(Page { tags: list.tags.unwrap_or_default(), next });
    }
}

/// Asks the challenge's realm for an anonymous token.
async fn fetch_token(client: &reqwest::Client, challenge: &Challenge) -> Result<String, DiscoverError> {
    let mut url = reqwest::Url::parse(&challenge.realm).map_err(|e| DiscoverError::Answer {
        url: challenge.realm.clone(),
        why: format!("the challenge's realm is not a URL: {e}"),
    })?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(s) = &challenge.service {
            query.append_pair("service", s);
        }
        if let Some(s) = &challenge.scope {
            query.append_pair("scope", s);
        }
    }
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| DiscoverError::Request { url: url.to_string(), why: error_chain(&e) })?;
    if !response.status().is_success() {
        return Err(status_error(url.as_str(), response).await);
    }
    let (answer, body): (TokenAnswer, _) = json_body(url.as_str(), response, "a token answer").await?;
    answer.token.or(answer.access_token).filter(|t| !t.is_empty()).ok_or_else(|| DiscoverError::Answer {
        url: url.to_string(),
        why: format!("no \"token\" or \"access_token\" in {}", excerpt(&body)),
    })
}

/// Reads a response body as JSON of type `T`; returns it with the body text for messages.
async fn json_body<T: serde::de::DeserializeOwned>(
    url: &str,
    response: reqwest::Response,
    what: &str,
) -> Result<(T, String), DiscoverError> {
    let body = response.text().await.map_err(|e| DiscoverError::Request { url: url.to_string(), why: error_chain(&e) })?;
    let value = serde_json::from_str(&body).map_err(|e| DiscoverError::Answer {
        url: url.to_string(),
        why: format!("not {what} ({e}): {}", excerpt(&body)),
    })?;
    Ok((value, body))
}

async fn status_error(url: &str, response: reqwest::Response) -> DiscoverError {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    DiscoverError::Status { url: url.to_string(), status, body: excerpt(&body) }
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(BODY_IN_MESSAGE) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None if body.is_empty() => "(empty body)".to_string(),
        None => body.to_string(),
    }
}

/// reqwest's top-level message rarely says why ("error sending request"); its sources do.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// What discovery found for one image set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The set's name.
    pub set: String,
    /// The image repository as matrix.toml names it.
    pub image: String,
    /// The registry base URL asked.
    pub registry: String,
    /// The repository path asked.
    pub repository: String,
    /// How many tags the registry listed, releases or not.
    pub all_tags: usize,
    /// The variants the set follows, in order of preference (`""` is the bare tag).
    pub variants: Vec<String>,
    /// The release tags, bare or with a variant, in version order.
    pub releases: Vec<String>,
    /// Those whose variant the set does not follow (e.g. `1.6.15-openssl`).
    pub not_followed: Vec<String>,
    /// The releases the set does not list yet, one tag each (see [`not_listed`]).
    pub not_in_set: Vec<String>,
}

/// Lists the set's image repository and compares its release tags with the set's tags.
pub async fn discover(set: &ImageSet) -> Result<Discovery, DiscoverError> {
    let (registry, repository) = registry_for_image(&set.image);
    let tags = list_tags(&registry, &repository).await?;
    let releases = release_tags(&tags);
    Ok(Discovery {
        set: set.name.clone(),
        image: set.image.clone(),
        registry,
        repository,
        all_tags: tags.len(),
        variants: set.variants.clone(),
        not_followed: not_followed(&releases, &set.variants),
        not_in_set: not_listed(&releases, &set.tags, &set.variants),
        releases,
    })
}

impl fmt::Display for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let followed: Vec<&str> = self.variants.iter().map(|v| if v.is_empty() { "bare" } else { v.as_str() }).collect();
        writeln!(
            f,
            "set {}: {} ({}/v2/{}): {} tags, {} release tags; variants followed: {}",
            self.set,
            self.image,
            self.registry,
            self.repository,
            self.all_tags,
            self.releases.len(),
            followed.join(", ")
        )?;
        writeln!(f, "releases: {}", list_or_none(&self.releases))?;
        writeln!(f, "variants not followed: {}", list_or_none(&self.not_followed))?;
        write!(f, "not in set {}: {}", self.set, list_or_none(&self.not_in_set))
    }
}

fn list_or_none(tags: &[String]) -> String {
    if tags.is_empty() {
        "(none)".to_string()
    } else {
        tags.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn release_tags_keep_major_minor_patch_with_or_without_a_variant_in_numeric_order() {
        let tags = strings(&[
            "latest",
            "2",
            "2.0",
            "2.0-openssl",
            "2.1-alpine",
            "alpine",
            "bookworm",
            "2.0.10",
            "1.6.15",
            "1.6.15-openssl",
            "2.0.9",
            "2.1.2-alpine",
            "2.0.22",
            "2.0.22-openssl",
            "v2.0.1",
            "2.0.1.1",
            "2..1",
            "-1.0.0",
            "2.0.9",
            "2.0.9-",
            "2.0.9-a b",
        ]);
        assert_eq!(
            release_tags(&tags),
            strings(&["1.6.15", "1.6.15-openssl", "2.0.9", "2.0.10", "2.0.22", "2.0.22-openssl", "2.1.2-alpine"])
        );
    }

    #[test]
    fn a_release_tag_splits_into_its_number_and_its_variant() {
        let r = ReleaseTag::parse("2.1.2-alpine").expect("a release");
        assert_eq!((r.version, r.variant.as_str(), r.release(), r.tag()), ([2, 1, 2], "-alpine", "2.1.2".into(), "2.1.2-alpine".into()));
        assert_eq!(ReleaseTag::parse("2.0.22").map(|r| r.variant), Some(String::new()));
        assert_eq!(ReleaseTag::parse("2.1-alpine"), None);
    }

    #[test]
    fn releases_beyond_the_set_are_those_it_does_not_list() {
        let releases = strings(&["2.0.14", "2.0.15", "2.0.16", "2.0.22"]);
        assert_eq!(not_listed(&releases, &strings(&["2.0.14", "2.0.15"]), &[String::new()]), strings(&["2.0.16", "2.0.22"]));
    }

    #[test]
    fn a_release_is_proposed_bare_when_it_can_be_else_under_the_first_followed_variant() {
        let releases = strings(&[
            "1.6.15", "1.6.15-openssl", "2.0.21", "2.0.22", "2.0.22-openssl", "2.0.23-openssl",
            "2.1.0-alpine", "2.1.1-alpine", "2.1.2-alpine",
        ]);
        let listed = strings(&["1.6.15", "2.0.21", "2.1.0-alpine"]);
        let eclipse = strings(&["", "-alpine"]);
        // 2.0.23 exists only as -openssl, which the set does not follow.
        assert_eq!(not_listed(&releases, &listed, &eclipse), strings(&["2.0.22", "2.1.1-alpine", "2.1.2-alpine"]));
        assert_eq!(not_followed(&releases, &eclipse), strings(&["1.6.15-openssl", "2.0.22-openssl", "2.0.23-openssl"]));
        // Bare only (the default): the 2.1 releases are not seen at all.
        assert_eq!(not_listed(&releases, &listed, &[String::new()]), strings(&["2.0.22"]));
        // -alpine preferred: 2.0.22 has no -alpine tag, so nothing of 2.0 is proposed.
        assert_eq!(not_listed(&releases, &listed, &strings(&["-alpine"])), strings(&["2.1.1-alpine", "2.1.2-alpine"]));
    }

    #[test]
    fn a_release_listed_under_any_followed_variant_counts_as_listed() {
        let releases = strings(&["2.1.2", "2.1.2-alpine"]);
        let eclipse = strings(&["", "-alpine"]);
        assert!(not_listed(&releases, &strings(&["2.1.2-alpine"]), &eclipse).is_empty());
        assert!(not_listed(&releases, &strings(&["2.1.2"]), &eclipse).is_empty());
        // Listed under a variant the set does not follow: not listed as far as the set is concerned.
        assert_eq!(not_listed(&releases, &strings(&["2.1.2-openssl"]), &eclipse), strings(&["2.1.2"]));
    }

    #[test]
    fn a_docker_hub_challenge_parses_with_commas_inside_quotes() {
        let header = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/eclipse-mosquitto:pull,push""#;
        assert_eq!(
            parse_bearer_challenge(header),
            Some(Challenge {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:library/eclipse-mosquitto:pull,push".into()),
            })
        );
    }

    #[test]
    fn a_challenge_without_quotes_or_service_still_parses() {
        assert_eq!(
            parse_bearer_challenge("bearer realm=http://127.0.0.1:1/t , scope=\"a\\\"b\""),
            Some(Challenge { realm: "http://127.0.0.1:1/t".into(), service: None, scope: Some("a\"b".into()) })
        );
    }

    #[test]
    fn basic_challenges_and_realmless_ones_are_not_bearer_challenges() {
        assert_eq!(parse_bearer_challenge(r#"Basic realm="Registry Realm""#), None);
        assert_eq!(parse_bearer_challenge(r#"Bearer service="x""#), None);
        assert_eq!(parse_bearer_challenge(r#"Bearer realm="unterminated"#), None);
        assert_eq!(parse_bearer_challenge(""), None);
    }

    #[test]
    fn next_link_finds_rel_next_among_several_links() {
        assert_eq!(
            next_link(r#"</v2/m/debian/tags/list?last=bookworm&n=1>; rel="next""#),
            Some("/v2/m/debian/tags/list?last=bookworm&n=1".into())
        );
        assert_eq!(
            next_link(
                r#"<https://r.example/v2/a/tags/list?last=1>; rel="prev", <https://r.example/v2/a/tags/list?last=3>; rel=next"#
            ),
            Some("https://r.example/v2/a/tags/list?last=3".into())
        );
        assert_eq!(next_link(r#"</v2/a/tags/list?last=1>; rel="prev""#), None);
        assert_eq!(next_link(""), None);
    }

    #[test]
    fn images_without_a_host_live_on_the_default_registry() {
        assert_eq!(
            registry_for_image("eclipse-mosquitto"),
            (DEFAULT_REGISTRY.into(), "library/eclipse-mosquitto".into())
        );
        assert_eq!(
            registry_for_image("eclipse-mosquitto:2.0.15"),
            (DEFAULT_REGISTRY.into(), "library/eclipse-mosquitto".into())
        );
        assert_eq!(
            registry_for_image("mosquitto-matrix/debian"),
            (DEFAULT_REGISTRY.into(), "mosquitto-matrix/debian".into())
        );
    }

    #[test]
    fn loopback_registries_are_plain_http_and_others_https() {
        assert_eq!(
            registry_for_image("127.0.0.1:5000/mosquitto-matrix/debian"),
            ("http://127.0.0.1:5000".into(), "mosquitto-matrix/debian".into())
        );
        assert_eq!(registry_for_image("localhost:5000/a/b:sid"), ("http://localhost:5000".into(), "a/b".into()));
        assert_eq!(registry_for_image("[::1]:5000/a@sha256:00"), ("http://[::1]:5000".into(), "a".into()));
        assert_eq!(registry_for_image("ghcr.io/org/mosquitto"), ("https://ghcr.io".into(), "org/mosquitto".into()));
    }
}
