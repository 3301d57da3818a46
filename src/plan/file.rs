//! matrix.toml: the single source of what runs, validated where it is loaded.
//!
//! Every mistake is reported with the file, the line and what is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use crate::units::parse_duration;
use crate::wire::mqtt::Protocol;
use crate::plan::column::{is_column_name, DEFAULT_PATH, PROTOCOL_MARK};
use crate::plan::known::{parse_reference, KnownIssue};
use crate::plan::route::{self, Route};
use crate::plan::version::Version;
use crate::plan::{Column, CommandClient, Expectation, Outcome, Profile, Timing, Transport, DEFAULT_ROUND_TRIP_TIMEOUT, DEFAULT_SETUP_TIMEOUT, FIVE_MINUTE_MARK};

/// A mistake in matrix.toml or in what was asked of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {why}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The operating system's words.
        why: String,
    },
    /// Something in the file is wrong at a known line.
    #[error("{file}:{line}: {what}")]
    At {
        /// The file.
        file: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// Something asked from the environment or command line is wrong.
    #[error("{origin}: {what}")]
    Asked {
        /// Where it was asked, e.g. `MATRIX_SET` or `--set`.
        origin: String,
        /// What is wrong.
        what: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    hold: Spanned<String>,
    keepalive: Spanned<String>,
    late_pong: Spanned<String>,
    tolerance: Spanned<String>,
    setup_timeout: Option<Spanned<String>>,
    round_trip_timeout: Option<Spanned<String>>,
    default_set: Spanned<String>,
    profiles: Vec<Spanned<String>>,
    routes: Option<Spanned<Vec<Spanned<String>>>>,
    broker: RawBroker,
    #[serde(default)]
    clients: IndexMap<Spanned<String>, Spanned<RawClient>>,
    sets: IndexMap<Spanned<String>, RawSet>,
    #[serde(default)]
    known_issues: Vec<RawKnownIssue>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKnownIssue {
    issue: Spanned<String>,
    title: String,
    columns: Spanned<Vec<Spanned<String>>>,
    outcome: Spanned<String>,
    versions: Option<Spanned<Vec<String>>>,
    fixed_in: Option<String>,
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    command: Spanned<Vec<String>>,
    transport: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    description: Option<String>,
    seen_in: Option<String>,
    setup: Option<String>,
    accelerates: Option<bool>,
    cost: Option<Spanned<RawCost>>,
    runtime_cost: Option<Spanned<RawCost>>,
    protocol: Option<Spanned<String>>,
    service: Option<Spanned<Vec<String>>>,
    runtime: Option<Spanned<Vec<String>>>,
    versions: Option<Spanned<Vec<Spanned<String>>>>,
    default_versions: Option<Spanned<Vec<Spanned<String>>>>,
    artefact: Option<String>,
    releases: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCost {
    start_cpu: String,
    memory_mb: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBroker {
    config: Spanned<String>,
    password_file: Spanned<String>,
    username: String,
    password: String,
    startup_timeout: Spanned<String>,
}

type RawExpect = IndexMap<Spanned<String>, Spanned<IndexMap<Spanned<String>, Spanned<String>>>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    image: String,
    tags: Vec<Spanned<String>>,
    #[serde(default)]
    variants: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    expect: RawExpect,
    routes: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    expect_on: IndexMap<Spanned<String>, RawExpect>,
    #[serde(default)]
    digests: IndexMap<Spanned<String>, Spanned<String>>,
}

/// Where the broker's files are and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// The mosquitto.conf copied into every container.
    pub config: PathBuf,
    /// The password file copied next to it.
    pub password_file: PathBuf,
    /// The test user (test-only credentials).
    pub username: String,
    /// The test user's password (test-only).
    pub password: String,
    /// How long a broker's container may take to start, and then how long its listeners may
    /// take to answer an MQTT CONNECT (see `engine::readiness`).
    pub startup_timeout: Duration,
}

/// One named image set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    /// The set's name.
    pub name: String,
    /// The image repository, e.g. `eclipse-mosquitto`.
    pub image: String,
    /// The tags, in file order.
    pub tags: Vec<String>,
    /// Expected outcome per (tag, column name), on the `direct` route.
    pub expect: BTreeMap<(String, String), Expectation>,
    /// The routes the set runs when a run names none (`routes = [...]` in the set; the
    /// file's when absent).
    pub routes: Option<Vec<Route>>,
    /// Where a route differs from `direct` (`[sets.X.expect_on.ROUTE]`): per (route name,
    /// tag or [`EVERY_TAG`], column name).
    pub expect_on: BTreeMap<(String, String, String), Expectation>,
    /// The tag variants `discover` follows, in order of preference: `""` is the bare
    /// `MAJOR.MINOR.PATCH` tag, `"-alpine"` its `-alpine` twin. `[""]` when the file says none.
    pub variants: Vec<String>,
    /// The image digest (`sha256:…`) each tag had when its outcomes were accepted by `baseline`.
    pub digests: BTreeMap<String, String>,
}

impl ImageSet {
    /// What the set expects of `column` on `tag`. A column under another MQTT version
    /// (`rfc6455+v5`) is expected to do what it does under its own, unless the set has a row
    /// for it.
    ///
    /// On another route, the route's own row for the tag wins, then its `"*"` row (every
    /// tag), then what `direct` expects: a route's table says only where it differs. Within a
    /// row, the column's own entry wins over the row's `"*"` entry (every column).
    pub fn expectation(&self, tag: &str, column: &Column, route: Route) -> Option<Expectation> {
        let names = [column.name(), column.base().name()];
        if route != Route::Direct {
            let r = route.name();
            for row in [tag, EVERY_TAG] {
                let found = names.iter().chain([&EVERY_COLUMN]).find_map(|n| self.expect_on.get(&(r.clone(), row.to_string(), n.to_string())));
                if let Some(e) = found {
                    return Some(*e);
                }
            }
        }
        names.into_iter().find_map(|name| self.expect.get(&(tag.to_string(), name.to_string()))).copied()
    }
}

/// The row of a route's expectations (`[sets.X.expect_on.ROUTE]`) that stands for every tag.
pub const EVERY_TAG: &str = "*";

/// The entry of a route's row (`[sets.X.expect_on.ROUTE]`) that stands for every column the
/// row does not name: `"*" = { "*" = "EOF" }` says every cell of the route ends.
pub const EVERY_COLUMN: &str = "*";

/// The variants a set follows when matrix.toml does not say: bare release tags only.
pub fn default_variants() -> Vec<String> {
    vec![String::new()]
}

/// Whether `text` is a tag variant: empty (the bare tag), or `-` and the characters a
/// Docker tag may hold (`-alpine`, `-openssl`).
pub fn is_variant(text: &str) -> bool {
    text.is_empty()
        || text.strip_prefix('-').is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        })
}

/// Whether `text` is an image digest as `baseline` records it: `sha256:` and 64 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// The placeholder a versioned client's `command` and `description` carry for its version.
pub const VERSION_PLACEHOLDER: &str = "{version}";

/// A client offered in several versions (`[clients.X] versions = [...]`): one column per
/// version, named `X@version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientVersions {
    /// The client's name, `X`.
    pub client: String,
    /// Every version offered, in file order.
    pub versions: Vec<String>,
    /// The versions `X` stands for in `profiles` (`default_versions`; all when not given).
    pub defaults: Vec<String>,
    /// Where its releases are published (`releases = "pypi:paho-mqtt"`), for `discover --clients`
    /// and for versions on demand.
    pub releases: Option<crate::plan::releases::Releases>,
    /// Its table as written, `{version}` still in place: a version on demand's column is made
    /// from it (`plan::ondemand`).
    pub template: CommandClient,
}

impl ClientVersions {
    /// The column name of one version, `X@version`.
    pub fn column(&self, version: &str) -> String {
        versioned_name(&self.client, version)
    }

    /// One version's column: the client's table with the version in place of
    /// [`VERSION_PLACEHOLDER`] in its command, runtime, description and artefact. Listed
    /// versions and versions on demand are both built here.
    pub fn version_column(&self, version: &str) -> CommandClient {
        let t = &self.template;
        let put = |a: &String| a.replace(VERSION_PLACEHOLDER, version);
        CommandClient {
            name: self.column(version),
            command: t.command.iter().map(put).collect(),
            runtime: t.runtime.as_ref().map(|r| r.iter().map(put).collect()),
            description: t.description.as_ref().map(put),
            artefact: t.artefact.as_ref().map(put),
            ..t.clone()
        }
    }
}

/// The column name of a client's version: `X@version`.
pub fn versioned_name(client: &str, version: &str) -> String {
    format!("{client}@{version}")
}

/// Whether a text can be a client version: letters, digits, `.`, `_`, `-`, `+`.
pub fn is_version(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// matrix.toml, loaded and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixFile {
    /// The file it came from.
    pub path: PathBuf,
    /// Durations; the hold is above the 5-minute mark.
    pub timing: Timing,
    /// Tolerance on expected end times.
    pub tolerance: Duration,
    /// The set that runs when none is asked for.
    pub default_set: String,
    /// The columns, in order (matrix.toml's `profiles`).
    pub columns: Vec<Column>,
    /// The routes a run takes when neither the run nor its set names any (`routes`;
    /// `["direct"]` when absent).
    pub routes: Vec<Route>,
    /// Every `[clients.<name>]` table, listed in `profiles` or not; a versioned client once
    /// per version, named `X@version`.
    pub clients: Vec<CommandClient>,
    /// The clients offered in several versions.
    pub versioned: Vec<ClientVersions>,
    /// Broker files and credentials.
    pub broker: BrokerSettings,
    /// The image sets, in file order.
    pub sets: Vec<ImageSet>,
    /// Upstream issues behind known failure patterns (`[[known_issues]]`), in file order.
    pub known_issues: Vec<KnownIssue>,
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn at(&self, span: std::ops::Range<usize>, what: impl Into<String>) -> ConfigError {
        let line = self.text[..span.start.min(self.text.len())].matches('\n').count() + 1;
        ConfigError::At { file: self.file.to_path_buf(), line, what: what.into() }
    }

    fn duration(&self, key: &str, v: &Spanned<String>) -> Result<Duration, ConfigError> {
        parse_duration(v.get_ref()).map_err(|e| self.at(v.span(), format!("{key}: {e}")))
    }

    fn columns(&self, v: &Spanned<String>, clients: &[CommandClient], versioned: &[ClientVersions]) -> Result<Vec<Column>, ConfigError> {
        find_columns(v.get_ref(), clients, versioned).ok_or_else(|| self.at(v.span(), unknown_column(v.get_ref(), clients, versioned)))
    }

    /// A `[clients.X]` table: one client, or one per version with its `X@version` name.
    fn clients(&self, name: &Spanned<String>, raw: &Spanned<RawClient>) -> Result<(Vec<CommandClient>, Option<ClientVersions>), ConfigError> {
        let one = self.client(name, raw)?;
        let n = name.get_ref();
        let r = raw.get_ref();
        let mentions = one.command.iter().any(|a| a.contains(VERSION_PLACEHOLDER));
        let Some(list) = &r.versions else {
            if mentions {
                return Err(self.at(r.command.span(), format!("client {n:?}: command has {VERSION_PLACEHOLDER} but the client has no versions = [...]")));
            }
            if let Some(d) = &r.default_versions {
                return Err(self.at(d.span(), format!("client {n:?}: default_versions without versions = [...]")));
            }
            if let Some(rel) = &r.releases {
                return Err(self.at(rel.span(), format!("client {n:?}: releases without versions = [...]: discovery lists the releases a client's versions lack")));
            }
            return Ok((vec![one], None));
        };
        if !mentions {
            return Err(self.at(r.command.span(), format!("client {n:?}: versions are given, so its command must say where each goes with {VERSION_PLACEHOLDER}")));
        }
        if list.get_ref().is_empty() {
            return Err(self.at(list.span(), format!("client {n:?}: versions = [] offers no version; list at least one or leave the line out")));
        }
        let mut versions: Vec<String> = Vec::new();
        for v in list.get_ref() {
            if !is_version(v.get_ref()) {
                return Err(self.at(v.span(), format!("client {n:?}: version {:?} may hold only letters, digits, '.', '_', '-' and '+'", v.get_ref())));
            }
            if versions.contains(v.get_ref()) {
                return Err(self.at(v.span(), format!("client {n:?}: version {:?} is listed twice", v.get_ref())));
            }
            versions.push(v.get_ref().clone());
        }
        let defaults = match &r.default_versions {
            None => versions.clone(),
            Some(d) if d.get_ref().is_empty() => {
                return Err(self.at(d.span(), format!("client {n:?}: default_versions = [] would leave the client out of every run; leave it out of profiles instead")));
            }
            Some(d) => {
                let mut defaults: Vec<String> = Vec::new();
                for v in d.get_ref() {
                    if !versions.contains(v.get_ref()) {
                        return Err(self.at(v.span(), format!("client {n:?}: default version {:?} is not among its versions ({})", v.get_ref(), versions.join(", "))));
                    }
                    if !defaults.contains(v.get_ref()) {
                        defaults.push(v.get_ref().clone());
                    }
                }
                defaults
            }
        };
        let releases = match &r.releases {
            None => None,
            Some(rel) => Some(crate::plan::releases::Releases::parse(rel.get_ref()).map_err(|e| self.at(rel.span(), format!("client {n:?}: releases: {e}")))?),
        };
        let family = ClientVersions { client: n.clone(), versions, defaults, releases, template: one.clone() };
        // Each listed version is built exactly as a version on demand is: one rule.
        let each = family.versions.iter().map(|v| family.version_column(v)).collect();
        Ok((each, Some(family)))
    }

    fn client(&self, name: &Spanned<String>, raw: &Spanned<RawClient>) -> Result<CommandClient, ConfigError> {
        let n = name.get_ref();
        if !is_column_name(n) {
            return Err(self.at(name.span(), format!("client name {n:?}: use letters, digits, '.', '_' and '-'")));
        }
        if Profile::from_name(n).is_some() {
            return Err(self.at(name.span(), format!("client {n:?} clashes with the built-in profile of that name; choose another name")));
        }
        let raw_ref = raw.get_ref();
        let command = raw_ref.command.get_ref();
        if command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(self.at(raw_ref.command.span(), format!("client {n:?}: command is empty; write the program and its arguments, as in command = [\"python3\", \"clients/x/hold.py\"]")));
        }
        let service = match &raw_ref.service {
            None => None,
            Some(s) if s.get_ref().first().is_none_or(|p| p.trim().is_empty()) => {
                return Err(self.at(s.span(), format!("client {n:?}: service is empty; write the program and its arguments, as in service = [\"node\", \"clients/browser/serve.mjs\"], or leave the line out")));
            }
            Some(s) => Some(s.get_ref().clone()),
        };
        let runtime = match &raw_ref.runtime {
            None => None,
            Some(r) if r.get_ref().first().is_none_or(|p| p.trim().is_empty()) => {
                return Err(self.at(r.span(), format!("client {n:?}: runtime is empty; write the program and its arguments, as in runtime = [\"python3\", \"clients/x/runtime.py\"], or leave the line out")));
            }
            Some(r) => Some(r.get_ref().clone()),
        };
        let transport = match &raw_ref.transport {
            None => Transport::Ws,
            Some(t) => match t.get_ref().as_str() {
                "ws" => Transport::Ws,
                "tcp" => Transport::Tcp,
                other => return Err(self.at(t.span(), format!("client {n:?}: transport {other:?} is not ws or tcp"))),
            },
        };
        let path = match &raw_ref.path {
            None => DEFAULT_PATH.to_string(),
            Some(p) if p.get_ref().starts_with('/') => p.get_ref().clone(),
            Some(p) => return Err(self.at(p.span(), format!("client {n:?}: path {:?} must start with '/'", p.get_ref()))),
        };
        let cost = |key: &str, raw: &Option<Spanned<RawCost>>| match raw {
            None => Ok(None),
            Some(c) => {
                let bad = |what: String| self.at(c.span(), format!("client {n:?}: {key}: {what}"));
                let start_cpu = parse_duration(&c.get_ref().start_cpu).map_err(|e| bad(format!("start_cpu {e}")))?;
                let memory_mb = crate::plan::cost::memory_mb(c.get_ref().memory_mb).map_err(bad)?;
                Ok(Some(crate::plan::Cost { start_cpu, memory_mb }))
            }
        };
        let (cost, runtime_cost) = (cost("cost", &raw_ref.cost)?, cost("runtime_cost", &raw_ref.runtime_cost)?);
        let protocol = match &raw_ref.protocol {
            None => Protocol::V311,
            Some(p) => Protocol::from_name(p.get_ref())
                .ok_or_else(|| self.at(p.span(), format!("client {n:?}: protocol {:?} is not \"3.1.1\" or \"5\"", p.get_ref())))?,
        };
        Ok(CommandClient {
            protocol,
            name: n.clone(),
            command: command.clone(),
            transport,
            path,
            description: raw_ref.description.clone(),
            seen_in: raw_ref.seen_in.clone(),
            setup: raw_ref.setup.clone(),
            accelerates: raw_ref.accelerates.unwrap_or(true),
            cost,
            runtime_cost,
            service,
            runtime,
            artefact: raw_ref.artefact.clone(),
        })
    }
}

impl Ctx<'_> {
    /// A `routes = [...]` list: known names, none twice, at least one.
    fn routes(&self, list: &Spanned<Vec<Spanned<String>>>) -> Result<Vec<Route>, ConfigError> {
        for (i, r) in list.get_ref().iter().enumerate() {
            route::parse_routes(&[r.get_ref()]).map_err(|e| self.at(r.span(), format!("routes: {e}")))?;
            if list.get_ref()[..i].iter().any(|k| k.get_ref() == r.get_ref()) {
                return Err(self.at(r.span(), format!("routes: route {:?} is listed twice", r.get_ref())));
            }
        }
        let names: Vec<&String> = list.get_ref().iter().map(Spanned::get_ref).collect();
        route::parse_routes(&names).map_err(|e| self.at(list.span(), format!("routes: {e}")))
    }

    fn known_issue(&self, raw: &RawKnownIssue, clients: &[CommandClient], versioned: &[ClientVersions], tolerance: Duration) -> Result<KnownIssue, ConfigError> {
        let issue = raw.issue.get_ref();
        parse_reference(issue).map_err(|e| self.at(raw.issue.span(), format!("known_issues: {e}")))?;
        if raw.columns.get_ref().is_empty() {
            return Err(self.at(raw.columns.span(), format!("known issue {issue}: columns is empty; name the columns whose failures it explains")));
        }
        let mut columns = Vec::new();
        for c in raw.columns.get_ref() {
            // Checked against the file's columns; kept as written, so a client's name stands
            // for each of its versions (`mqttjs` for `mqttjs@5.16.0`).
            self.columns(c, clients, versioned)?;
            columns.push(c.get_ref().clone());
        }
        let pattern = Expectation::parse(raw.outcome.get_ref()).map_err(|e| self.at(raw.outcome.span(), format!("known issue {issue}: {e}")))?;
        if matches!(pattern.outcome, Outcome::Ok | Outcome::Error) {
            return Err(self.at(
                raw.outcome.span(),
                format!("known issue {issue}: outcome {:?} is no failure of a broker or client; write EOF, CLOSED, TIMEOUT or REFUSED, as in \"EOF@300\"", raw.outcome.get_ref()),
            ));
        }
        let versions = match &raw.versions {
            None => None,
            Some(v) => {
                let list = v.get_ref();
                let wrong = |why: &str| self.at(v.span(), format!("known issue {issue}: versions {list:?} {why}; write the first and last broker version it applies to, as in [\"2.0.0\", \"2.0.5\"]"));
                let [first, last] = list.as_slice() else { return Err(wrong("are not two versions")) };
                match (Version::find(first), Version::find(last)) {
                    (Some(a), Some(b)) if a <= b => Some([first.clone(), last.clone()]),
                    (Some(_), Some(_)) => return Err(wrong("run backwards")),
                    _ => return Err(wrong("are not MAJOR.MINOR.PATCH")),
                }
            }
        };
        Ok(KnownIssue {
            issue: issue.clone(),
            title: raw.title.clone(),
            columns,
            outcome: raw.outcome.get_ref().clone(),
            versions,
            fixed_in: raw.fixed_in.clone(),
            state: raw.state.clone(),
            tolerance,
        })
    }
}

/// The built-in profile or client of that name.
/// The built-in profile or client of that name; `<name>+v<protocol>` (`rfc6455+v5`) is that
/// column under that MQTT version.
pub(crate) fn find_column(name: &str, clients: &[CommandClient]) -> Option<Column> {
    if let Some((base, protocol)) = name.rsplit_once(PROTOCOL_MARK) {
        let protocol = Protocol::from_name(protocol)?;
        return find_column(base, clients)?.under(protocol).ok().filter(|c| c.name() == name);
    }
    Profile::from_name(name)
        .map(Column::Builtin)
        .or_else(|| clients.iter().find(|c| c.name == name).cloned().map(Column::Command))
}

/// The columns a name in `profiles` stands for: a built-in profile, a client, one version of
/// a client (`X@version`), or a versioned client's default versions (`X`).
pub(crate) fn find_columns(name: &str, clients: &[CommandClient], versioned: &[ClientVersions]) -> Option<Vec<Column>> {
    // `X+v5`: each column `X` stands for, under MQTT 5.
    if let Some((base, protocol)) = name.rsplit_once(PROTOCOL_MARK) {
        let protocol = Protocol::from_name(protocol)?;
        return find_columns(base, clients, versioned)?.into_iter().map(|c| c.under(protocol).ok()).collect();
    }
    if let Some(c) = find_column(name, clients) {
        return Some(vec![c]);
    }
    let family = versioned.iter().find(|f| f.client == name)?;
    family.defaults.iter().map(|v| find_column(&family.column(v), clients)).collect()
}

pub(crate) fn unknown_column(name: &str, clients: &[CommandClient], versioned: &[ClientVersions]) -> String {
    let known: Vec<String> = Profile::ALL
        .iter()
        .map(|p| p.name().to_string())
        .chain(clients.iter().filter(|c| !c.name.contains('@')).map(|c| c.name.clone()))
        .chain(versioned.iter().map(|f| format!("{} ({})", f.client, f.versions.iter().map(|v| f.column(v)).collect::<Vec<_>>().join(", "))))
        .collect();
    let versions = if name.contains(PROTOCOL_MARK) {
        "; <column>+v<version> names a column under MQTT 3.1.1 or 5 other than its own (rumqttc speaks 3.1.1 only)"
    } else {
        ""
    };
    format!("unknown profile {name:?}; known profiles and clients: {}{versions}", known.join(", "))
}

impl MatrixFile {
    /// Reads and validates a matrix file.
    pub fn load(path: &Path) -> Result<MatrixFile, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { file: path.to_path_buf(), why: e.to_string() })?;
        MatrixFile::parse(path, &text)
    }

    /// Validates matrix-file text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<MatrixFile, ConfigError> {
        let cx = Ctx { file: path, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            cx.at(span, e.message().trim().to_string())
        })?;
        let timing = file_timing(&cx, &raw)?;
        let mut clients = Vec::new();
        let mut versioned = Vec::new();
        for (name, client) in &raw.clients {
            let (each, family) = cx.clients(name, client)?;
            clients.extend(each);
            versioned.extend(family);
        }
        let columns = file_columns(&cx, &raw.profiles, &clients, &versioned)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let broker = BrokerSettings {
            config: base.join(raw.broker.config.get_ref()),
            password_file: base.join(raw.broker.password_file.get_ref()),
            username: raw.broker.username,
            password: raw.broker.password,
            startup_timeout: cx.duration("startup_timeout", &raw.broker.startup_timeout)?,
        };
        let routes = match &raw.routes {
            None => vec![Route::Direct],
            Some(list) => cx.routes(list)?,
        };
        let mut sets = Vec::new();
        for (name, set) in &raw.sets {
            sets.push(load_set(&cx, name.get_ref(), set, &clients, &versioned)?);
        }
        if !sets.iter().any(|s| &s.name == raw.default_set.get_ref()) {
            return Err(cx.at(raw.default_set.span(), unknown_set(raw.default_set.get_ref(), &sets)));
        }
        let tolerance = cx.duration("tolerance", &raw.tolerance)?;
        let mut known_issues = Vec::new();
        for k in &raw.known_issues {
            known_issues.push(cx.known_issue(k, &clients, &versioned, tolerance)?);
        }
        Ok(MatrixFile {
            path: path.to_path_buf(),
            timing,
            tolerance,
            known_issues,
            default_set: raw.default_set.into_inner(),
            columns,
            routes,
            clients,
            versioned,
            broker,
            sets,
        })
    }

    /// The set with this name.
    pub fn set(&self, name: &str) -> Option<&ImageSet> {
        self.sets.iter().find(|s| s.name == name)
    }
}

/// The durations a session runs by, from the file: the hold must pass the 5-minute mark, the
/// keepalive must be more than zero, and the bounds nobody sets are the defaults.
fn file_timing(cx: &Ctx<'_>, raw: &RawFile) -> Result<Timing, ConfigError> {
    let hold = cx.duration("hold", &raw.hold)?;
    if hold <= FIVE_MINUTE_MARK {
        return Err(cx.at(
            raw.hold.span(),
            format!(
                "hold = {:?} cannot see the 5-minute mark: libwebsockets >= 4.0 sends its PING {mark} s after \
                 the last PONG, so a hold must be longer than {mark} s (330s is the default); \
                 for a quick look set MATRIX_HOLD instead",
                raw.hold.get_ref(),
                mark = FIVE_MINUTE_MARK.as_secs()
            ),
        ));
    }
    let keepalive = cx.duration("keepalive", &raw.keepalive)?;
    if keepalive.is_zero() {
        return Err(cx.at(raw.keepalive.span(), "keepalive must be more than zero"));
    }
    Ok(Timing {
        hold,
        keepalive,
        late_pong: cx.duration("late_pong", &raw.late_pong)?,
        setup_timeout: match &raw.setup_timeout {
            Some(v) => cx.duration("setup_timeout", v)?,
            None => DEFAULT_SETUP_TIMEOUT,
        },
        round_trip_timeout: match &raw.round_trip_timeout {
            Some(v) => cx.duration("round_trip_timeout", v)?,
            None => DEFAULT_ROUND_TRIP_TIMEOUT,
        },
    })
}

/// The file's default columns (`profiles`), each name once.
fn file_columns(cx: &Ctx<'_>, profiles: &[Spanned<String>], clients: &[CommandClient], versioned: &[ClientVersions]) -> Result<Vec<Column>, ConfigError> {
    let mut columns: Vec<Column> = Vec::new();
    for p in profiles {
        for column in cx.columns(p, clients, versioned)? {
            if columns.iter().any(|c| c.name() == column.name()) {
                return Err(cx.at(p.span(), format!("profile {:?} is listed twice", column.name())));
            }
            columns.push(column);
        }
    }
    Ok(columns)
}

pub(crate) fn unknown_set(name: &str, sets: &[ImageSet]) -> String {
    let known: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
    format!("unknown set {name:?}; this file defines: {}", known.join(", "))
}

fn load_set(
    cx: &Ctx<'_>,
    name: &str,
    raw: &RawSet,
    clients: &[CommandClient],
    versioned: &[ClientVersions],
) -> Result<ImageSet, ConfigError> {
    let mut tags: Vec<String> = Vec::new();
    for t in &raw.tags {
        if tags.contains(t.get_ref()) {
            return Err(cx.at(t.span(), format!("tag {:?} is listed twice in set {name:?}", t.get_ref())));
        }
        tags.push(t.get_ref().clone());
    }
    let mut expect = BTreeMap::new();
    for (tag, row) in &raw.expect {
        if !tags.contains(tag.get_ref()) {
            return Err(cx.at(
                tag.span(),
                format!("expectation for tag {:?}, which set {name:?} does not list in its tags", tag.get_ref()),
            ));
        }
        for (column, e) in expectation_row(cx, row, clients, versioned, false)? {
            expect.insert((tag.get_ref().clone(), column), e);
        }
    }
    let routes = raw.routes.as_ref().map(|list| cx.routes(list)).transpose()?;
    let expect_on = set_expect_on(cx, name, raw, &tags, clients, versioned)?;
    let variants = set_variants(cx, name, raw)?;
    let digests = set_digests(cx, name, raw, &tags)?;
    Ok(ImageSet { name: name.to_string(), image: raw.image.clone(), tags, expect, routes, expect_on, variants, digests })
}

/// A set's expectations per route (`[sets.X.expect_on.ROUTE]`), keyed by (route, tag or
/// `"*"`, column).
type ExpectOn = BTreeMap<(String, String, String), Expectation>;

fn set_expect_on(
    cx: &Ctx<'_>,
    name: &str,
    raw: &RawSet,
    tags: &[String],
    clients: &[CommandClient],
    versioned: &[ClientVersions],
) -> Result<ExpectOn, ConfigError> {
    let mut expect_on = BTreeMap::new();
    for (route_name, rows) in &raw.expect_on {
        let r = route_name.get_ref();
        match Route::from_name(r) {
            None => return Err(cx.at(route_name.span(), format!("expect_on.{r}: unknown route {r:?}; known routes: {}", route::known_names()))),
            Some(Route::Direct) => {
                return Err(cx.at(route_name.span(), format!("expect_on.direct: direct's expectations are [sets.{name}.expect]; expect_on is for the other routes")));
            }
            Some(_) => {}
        }
        for (tag, row) in rows {
            if tag.get_ref() != EVERY_TAG && !tags.contains(tag.get_ref()) {
                return Err(cx.at(
                    tag.span(),
                    format!("expect_on.{r}: tag {:?}, which set {name:?} does not list in its tags (\"*\" stands for every tag)", tag.get_ref()),
                ));
            }
            for (column, e) in expectation_row(cx, row, clients, versioned, true)? {
                if column == "tcp" {
                    return Err(cx.at(row.span(), format!("expect_on.{r}: the tcp column runs on the direct route only")));
                }
                expect_on.insert((r.clone(), tag.get_ref().clone(), column), e);
            }
        }
    }
    Ok(expect_on)
}

/// The release-tag variants a set follows (`variants`), each a tag suffix, each once.
fn set_variants(cx: &Ctx<'_>, name: &str, raw: &RawSet) -> Result<Vec<String>, ConfigError> {
    Ok(match &raw.variants {
        None => default_variants(),
        Some(list) => {
            if list.get_ref().is_empty() {
                return Err(cx.at(
                    list.span(),
                    format!("set {name:?} follows no variant; write variants = [\"\"] for bare release tags only"),
                ));
            }
            let mut variants: Vec<String> = Vec::new();
            for v in list.get_ref() {
                if !is_variant(v.get_ref()) {
                    return Err(cx.at(
                        v.span(),
                        format!(
                            "variant {:?} is not a tag suffix; write \"\" for the bare tag or a suffix such as \"-alpine\"",
                            v.get_ref()
                        ),
                    ));
                }
                if variants.contains(v.get_ref()) {
                    return Err(cx.at(v.span(), format!("variant {:?} is listed twice in set {name:?}", v.get_ref())));
                }
                variants.push(v.get_ref().clone());
            }
            variants
        }
    })
}

/// The registry digests a set's baseline recorded (`[sets.X.digests]`), for tags it lists.
fn set_digests(cx: &Ctx<'_>, name: &str, raw: &RawSet, tags: &[String]) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut digests = BTreeMap::new();
    for (tag, digest) in &raw.digests {
        if !tags.contains(tag.get_ref()) {
            return Err(cx.at(
                tag.span(),
                format!("digest for tag {:?}, which set {name:?} does not list in its tags", tag.get_ref()),
            ));
        }
        if !is_digest(digest.get_ref()) {
            return Err(cx.at(
                digest.span(),
                format!("digest {:?} of tag {:?} is not \"sha256:\" and 64 hex digits", digest.get_ref(), tag.get_ref()),
            ));
        }
        digests.insert(tag.get_ref().clone(), digest.get_ref().clone());
    }
    Ok(digests)
}

/// One row of expectations (`{ rfc6455 = "OK", paho-java = "EOF@300" }`), per column name
/// (and, in a route's rows, [`EVERY_COLUMN`] for every column the row does not name). A
/// versioned client's name `X` sets every version of it; `X@version` in the same row wins for
/// its version, wherever it stands.
fn expectation_row(
    cx: &Ctx<'_>,
    row: &Spanned<IndexMap<Spanned<String>, Spanned<String>>>,
    clients: &[CommandClient],
    versioned: &[ClientVersions],
    every: bool,
) -> Result<Vec<(String, Expectation)>, ConfigError> {
    let mut out = Vec::new();
    let mut specific = Vec::new();
    for (profile, text) in row.get_ref() {
        let e = Expectation::parse(text.get_ref()).map_err(|e| cx.at(text.span(), e))?;
        if every && profile.get_ref() == EVERY_COLUMN {
            out.push((EVERY_COLUMN.to_string(), e));
            continue;
        }
        if let Some(family) = versioned.iter().find(|f| &f.client == profile.get_ref()) {
            out.extend(family.versions.iter().map(|v| (family.column(v), e)));
            continue;
        }
        let column = find_column(profile.get_ref(), clients)
            .ok_or_else(|| cx.at(profile.span(), unknown_column(profile.get_ref(), clients, versioned)))?;
        specific.push((column.name().to_string(), e));
    }
    // Later entries win when the caller inserts them in order.
    out.extend(specific);
    Ok(out)
}
