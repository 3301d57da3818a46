//! What a run asks for beyond the file (set, tags, columns, hold, shard), resolved into a [`Plan`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::plan::column::under_name;
use crate::plan::copies;
use crate::plan::route::{self, Route};
use crate::plan::file::{find_column, find_columns, is_version, unknown_column, unknown_set};
use crate::plan::ondemand;
use crate::plan::{
    BrokerSettings, ClientMode, ClientVersions, Column, CommandClient, ConfigError, Expectation, KnownIssue, MatrixFile, Timing, Transport,
    FIVE_MINUTE_MARK,
};
use crate::units::parse_duration;
use crate::wire::mqtt::Protocol;

/// What a run asks for beyond the file: from the environment or the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The set to run (else the file's default).
    pub set: Option<String>,
    /// Tags to run; a tag the set does not list runs with no expectation, reported as new.
    pub tags: Option<Vec<String>>,
    /// Columns to run, by name: built-in profiles and matrix.toml's clients.
    pub profiles: Option<Vec<String>>,
    /// Routes to run every column on (`direct,tls,nginx`); the set's or the file's when absent.
    pub routes: Option<Vec<String>>,
    /// MQTT versions to run every column under (`3.1.1,5`); each column's own when absent.
    pub protocols: Option<Vec<String>>,
    /// Ad-hoc command columns (`--client NAME=COMMAND`), run besides the others with no expectation.
    pub clients: Vec<CommandClient>,
    /// A hold for a quick look; may be below the 5-minute mark.
    pub hold: Option<String>,
    /// How many times faster the brokers' and clients' clocks run (`10`); 1 when absent.
    pub speed: Option<String>,
    /// How many independent copies of each tag to run (`8`); 1 when absent.
    pub copies: Option<String>,
    /// How many cores' worth of start-up work the run admits at once; the machine's when absent.
    pub jobs: Option<String>,
    /// How the real clients start (`runtime` or `process`, see [`ClientMode`]); `runtime` when absent.
    pub client_mode: Option<String>,
    /// Which versions of the versioned clients run (`--client-versions`): `all`, or a list of
    /// `X@version` (and `X@*` for all of X's); the file's default versions when absent.
    pub client_versions: Option<String>,
    /// Only the columns of this transport (`ws` or `tcp`), judged on each column as it runs
    /// (a `+v5` column is WebSocket like its base).
    pub transport: Option<String>,
    /// The name the values came from in error messages (e.g. `MATRIX_` or `--`).
    pub origin: SelectionOrigin,
    /// The values given on the command line over a selection read from the environment (see
    /// [`Selection::overridden_by`]): an error in one names the flag, in any other the variable.
    pub from_command_line: Vec<&'static str>,
}

/// Where a [`Selection`] came from, for error messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SelectionOrigin {
    /// `MATRIX_SET`, `MATRIX_TAGS`, `MATRIX_PROFILES`, `MATRIX_HOLD`.
    #[default]
    Environment,
    /// `--set`, `--tags`, `--profiles`, `--hold`.
    CommandLine,
}

impl SelectionOrigin {
    /// How a value is named from this origin: `MATRIX_CLIENT_VERSIONS`, `--client-versions`.
    pub fn name(self, key: &str) -> String {
        match self {
            SelectionOrigin::Environment => format!("MATRIX_{}", key.to_uppercase().replace('-', "_")),
            SelectionOrigin::CommandLine => format!("--{key}"),
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

/// The variable that names matrix.toml for both the CLI (`--config`) and `cargo test --test matrix`.
pub const CONFIG_VAR: &str = "MATRIX_CONFIG";

/// Every variable [`Selection::from_vars`] reads, in the order `--help` lists their flags.
///
/// No `MATRIX_TRANSPORT`: the command-client contract sets that variable for each client
/// process, so a run's transport is asked on the command line only (`--transport`).
pub const SELECTION_VARS: [&str; 11] = [
    "MATRIX_SET",
    "MATRIX_TAGS",
    "MATRIX_PROFILES",
    "MATRIX_ROUTES",
    "MATRIX_PROTOCOL",
    "MATRIX_HOLD",
    "MATRIX_SPEED",
    "MATRIX_COPIES",
    "MATRIX_JOBS",
    "MATRIX_CLIENT_VERSIONS",
    "MATRIX_CLIENT_MODE",
];

/// matrix.toml's path: [`CONFIG_VAR`] when set, else `default`.
pub fn config_path(var: impl Fn(&str) -> Option<String>, default: &Path) -> PathBuf {
    var(CONFIG_VAR).filter(|v| !v.trim().is_empty()).map_or_else(|| default.to_path_buf(), PathBuf::from)
}

impl Selection {
    /// Reads the selection from the process's environment: [`Selection::from_vars`] over
    /// `std::env::var`. The CLI and `cargo test --test matrix` both start here.
    pub fn from_env() -> Selection {
        Selection::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the selection from variables ([`SELECTION_VARS`]: `MATRIX_SET`, `MATRIX_TAGS`,
    /// `MATRIX_PROFILES`, `MATRIX_ROUTES`, `MATRIX_PROTOCOL`, `MATRIX_HOLD`, `MATRIX_SPEED`, `MATRIX_COPIES`, `MATRIX_JOBS`,
    /// `MATRIX_CLIENT_VERSIONS` and `MATRIX_CLIENT_MODE`); an empty variable counts as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Selection {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        Selection {
            set: var("MATRIX_SET"),
            tags: var("MATRIX_TAGS").map(|v| split_list(&v)),
            profiles: var("MATRIX_PROFILES").map(|v| split_list(&v)),
            protocols: var("MATRIX_PROTOCOL").map(|v| split_list(&v)),
            routes: var("MATRIX_ROUTES").map(|v| split_list(&v)),
            hold: var("MATRIX_HOLD"),
            speed: var("MATRIX_SPEED"),
            copies: var("MATRIX_COPIES"),
            jobs: var("MATRIX_JOBS"),
            client_versions: var("MATRIX_CLIENT_VERSIONS"),
            client_mode: var("MATRIX_CLIENT_MODE"),
            transport: None,
            clients: Vec::new(),
            origin: SelectionOrigin::Environment,
            from_command_line: Vec::new(),
        }
    }

    /// This selection (read from the environment) with every value the command line gave laid
    /// over it; the command line's ad-hoc clients are added.
    pub fn overridden_by(mut self, flags: Selection) -> Selection {
        let mut given = Vec::new();
        macro_rules! over {
            ($($field:ident => $key:literal),* $(,)?) => {$(
                if flags.$field.is_some() {
                    self.$field = flags.$field;
                    given.push($key);
                }
            )*};
        }
        over!(set => "set", tags => "tags", profiles => "profiles", routes => "routes", protocols => "protocol",
              transport => "transport", hold => "hold", speed => "speed", copies => "copies", jobs => "jobs",
              client_versions => "client-versions", client_mode => "client-mode");
        if !flags.clients.is_empty() {
            given.push("client");
        }
        self.clients.extend(flags.clients);
        self.from_command_line = given;
        self
    }

    /// How the value `key` (`set`, `client-versions`) is named in an error: the flag when the
    /// command line gave it, else the variable.
    pub fn origin_of(&self, key: &str) -> String {
        if self.from_command_line.contains(&key) {
            SelectionOrigin::CommandLine.name(key)
        } else {
            self.origin.name(key)
        }
    }
}

/// The first item of a list that is given twice, if any.
fn twice<T: PartialEq>(items: &[T]) -> Option<&T> {
    items.iter().enumerate().find(|(i, x)| items[..*i].contains(x)).map(|(_, x)| x)
}

/// Every column under every protocol of `list` (`["3.1.1", "5"]`), each column's versions
/// together; a column that cannot speak one is left out, saying why.
fn under_protocols(columns: Vec<Column>, list: &[String], left_out: &mut Vec<LeftOut>) -> Result<Vec<Column>, String> {
    let protocols = list
        .iter()
        .map(|p| Protocol::from_name(p).ok_or_else(|| format!("{p:?} is not an MQTT version; write 3.1.1, 5 or 3.1.1,5")))
        .collect::<Result<Vec<_>, _>>()?;
    if protocols.is_empty() {
        return Err("no MQTT version given".to_string());
    }
    let mut out: Vec<Column> = Vec::new();
    for column in columns {
        for &p in &protocols {
            match column.clone().under(p) {
                Ok(c) if !out.contains(&c) => out.push(c),
                Ok(_) => {}
                Err(why) => left_out.push(LeftOut { column: under_name(column.base().name(), p), why }),
            }
        }
    }
    Ok(out)
}

/// One (tag, column, route) cell to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The image tag.
    pub tag: String,
    /// The column: a built-in profile or a command.
    pub column: Column,
    /// How the client reaches the broker.
    pub route: Route,
    /// What matrix.toml expects; `None` for a tag it does not list (a new release).
    pub expect: Option<Expectation>,
}

impl Cell {
    /// The cell's stable name, `tag/column` on `direct` and `tag/route/column` elsewhere.
    pub fn id(&self) -> String {
        format!("{}/{}", self.tag, self.key())
    }

    /// The column under its route, as results and reports name it (see [`route::column_key`]).
    pub fn key(&self) -> String {
        route::column_key(&self.route.name(), self.column.name())
    }
}

/// One part of a sharded run: `index` of `count`, 1-based (`--shard 2/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 1.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?} is not a shard; write I/N with 1 <= I <= N, as in 2/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The resolved run: which image, which cells, which durations.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The set's name.
    pub set: String,
    /// The image repository.
    pub image: String,
    /// The rows in order: the tags, or with copies each tag's copies (`bookworm#3`, see
    /// [`crate::plan::copies`]).
    pub tags: Vec<String>,
    /// The columns in order.
    pub columns: Vec<Column>,
    /// The routes in order; every cell of a route before the next route's (per row).
    pub routes: Vec<Route>,
    /// Columns of the set this plan leaves out, each with why.
    pub left_out: Vec<LeftOut>,
    /// Every cell, tag-major.
    pub cells: Vec<Cell>,
    /// How many times faster than real time the clocks of the run's brokers and clients run
    /// (1: real time). Every duration of the plan and the report is in broker time.
    pub speed: u32,
    /// Durations (the hold may be a quick-look one).
    pub timing: Timing,
    /// Tolerance on expected end times.
    pub tolerance: Duration,
    /// Broker files and credentials.
    pub broker: BrokerSettings,
    /// matrix.toml's folder: command columns run here, and their relative paths start here.
    pub workdir: PathBuf,
    /// The image digest matrix.toml recorded per tag at its last baseline (`sha256:…`).
    pub digests: BTreeMap<String, String>,
    /// How many copies of each tag run (1: the set as it is).
    pub copies: u32,
    /// How many cores' worth of start-up work may run at once (`None`: the machine's cores).
    pub jobs: Option<u32>,
    /// Upstream issues behind known failure patterns, for the report's summary.
    pub known_issues: Vec<KnownIssue>,
    /// How the command columns start: one runtime per (column, version), or a process per cell.
    pub client_mode: ClientMode,
}

/// A mistake in what the run asked for, naming where it was asked (`--profiles`,
/// `MATRIX_PROFILES`).
fn asked(sel: &Selection, key: &str, what: String) -> ConfigError {
    ConfigError::Asked { origin: sel.origin_of(key), what }
}

/// The columns the run asks for: the named profiles and clients (or the file's columns), the
/// client versions asked for, and ad-hoc clients after them.
fn selected_columns(file: &MatrixFile, sel: &Selection) -> Result<Vec<Column>, ConfigError> {
    let mut columns = match &sel.profiles {
        Some(names) => {
            if names.is_empty() {
                return Err(asked(sel, "profiles", "no profile given".into()));
            }
            let mut columns: Vec<Column> = Vec::new();
            let mut from: Vec<&String> = Vec::new();
            for n in names {
                let found = find_columns(n, &file.clients, &file.versioned)
                    .ok_or_else(|| asked(sel, "profiles", unknown_column(n, &file.clients, &file.versioned)))?;
                for c in found {
                    if let Some(i) = columns.iter().position(|k| k.name() == c.name()) {
                        let through = if from[i] == n { String::new() } else { format!(" (through {:?})", from[i]) };
                        return Err(asked(sel, "profiles", format!("column {:?} is given twice{through}; name each column once", c.name())));
                    }
                    columns.push(c);
                    from.push(n);
                }
            }
            columns
        }
        None => file.columns.clone(),
    };
    if let Some(asked_versions) = &sel.client_versions {
        let mut wanted = parse_client_versions(asked_versions, &file.versioned).map_err(|e| asked(sel, "client-versions", e))?;
        if asked_versions.trim() == "all" {
            // `all` widens the versioned clients the run has; it adds none.
            let has = |f: &str| columns.iter().any(|c| c.name().split_once('@').is_some_and(|(x, _)| x == f));
            wanted.retain(|(f, _)| has(f));
        }
        // A released version matrix.toml does not list runs on demand, made from its client's table.
        let mut clients = file.clients.clone();
        for (client, versions) in &wanted {
            let Some(family) = file.versioned.iter().find(|f| &f.client == client) else { continue };
            clients.extend(versions.iter().filter(|v| ondemand::can_install(family, v)).map(|v| ondemand::column(family, v)));
        }
        columns = with_versions(columns, &wanted, &clients);
    }
    for c in &sel.clients {
        if columns.iter().any(|k| k.name() == c.name) || find_columns(&c.name, &file.clients, &file.versioned).is_some() {
            return Err(asked(sel, "client", format!("{:?} is already a column name; choose another", c.name)));
        }
        columns.push(Column::Command(c.clone()));
    }
    Ok(columns)
}

/// The columns that run after `--transport`, or why none does: filtered on each column's real
/// transport, and an empty list is refused, naming what left each column out.
fn runnable(mut columns: Vec<Column>, sel: &Selection, left_out: &[LeftOut]) -> Result<Vec<Column>, ConfigError> {
    if let Some(t) = &sel.transport {
        let want = match t.trim() {
            "ws" => Transport::Ws,
            "tcp" => Transport::Tcp,
            other => return Err(asked(sel, "transport", format!("{other:?} is not a transport; write ws or tcp"))),
        };
        let had: Vec<String> = columns.iter().map(|c| format!("{} ({})", c.name(), c.transport())).collect();
        columns.retain(|c| c.transport() == want);
        if columns.is_empty() {
            return Err(asked(sel, "transport", format!("no column of this run speaks {want}; its columns: {}", had.join(", "))));
        }
    }
    if columns.is_empty() {
        let why = if left_out.is_empty() {
            "no column to run".to_string()
        } else {
            let each: Vec<String> = left_out.iter().map(|l| format!("{} ({})", l.column, l.why)).collect();
            format!("no column to run: every one is left out: {}", each.join("; "))
        };
        return Err(asked(sel, "profiles", why));
    }
    Ok(columns)
}

/// Why no route of the run carries any of its columns.
fn uncarried(columns: &[Column], routes: &[Route]) -> String {
    let names: Vec<&str> = columns.iter().map(Column::name).collect();
    let on: Vec<String> = routes.iter().map(|r| r.name()).collect();
    format!("no route of this run ({}) carries any of its columns ({})", on.join(", "), names.join(", "))
}

/// The TCP column has no WebSocket hop to route: said once, naming the routes.
fn direct_only(columns: &[Column], routes: &[Route]) -> Vec<LeftOut> {
    let elsewhere: Vec<String> = routes.iter().filter(|r| **r != Route::Direct).map(|r| r.name()).collect();
    let on = if routes.contains(&Route::Direct) { "runs on the direct route only" } else { "runs on the direct route only, which this run leaves out" };
    columns
        .iter()
        .filter(|c| !elsewhere.is_empty() && routes.iter().any(|r| !r.carries(c)))
        .map(|c| LeftOut { column: c.name().to_string(), why: format!("{on}: a TCP session has no WebSocket hop for {} to carry", elsewhere.join(", ")) })
        .collect()
}

impl Plan {
    /// How far a cell's end may stray from its expectation: matrix.toml's `tolerance`, times
    /// the speed for a client on its own real clock (it cannot follow the time library, so its
    /// delays count `speed` times in broker time), as `diff --within` holds it.
    pub fn tolerance_for(&self, column: &Column) -> Duration {
        match column.base() {
            Column::Command(c) if c.real_clock(self.speed) => self.tolerance * self.speed,
            _ => self.tolerance,
        }
    }

    /// Resolves a selection against the file.
    pub fn new(file: &MatrixFile, sel: &Selection) -> Result<Plan, ConfigError> {
        let asked = |key: &str, what: String| asked(sel, key, what);
        let set_name = sel.set.clone().unwrap_or_else(|| file.default_set.clone());
        let set = file.set(&set_name).ok_or_else(|| asked("set", unknown_set(&set_name, &file.sets)))?;
        let tags = match &sel.tags {
            Some(t) if t.is_empty() => return Err(asked("tags", "no tags given".into())),
            Some(t) => match twice(t) {
                Some(tag) => return Err(asked("tags", format!("tag {tag:?} is given twice; each tag runs once (for more, use copies)"))),
                None => t.clone(),
            },
            None => set.tags.clone(),
        };
        let mut columns = selected_columns(file, sel)?;
        let mut timing = file.timing;
        if let Some(h) = &sel.hold {
            timing.hold = parse_duration(h).map_err(|e| asked("hold", e))?;
            if timing.hold.is_zero() {
                return Err(asked("hold", "the hold must be more than zero".into()));
            }
        }
        let speed = match &sel.speed {
            None => 1,
            Some(s) => parse_speed(s).map_err(|e| asked("speed", e))?,
        };
        let client_mode = sel.client_mode.as_deref().map_or(Ok(ClientMode::default()), ClientMode::parse).map_err(|e| asked("client-mode", e))?;
        let mut left_out = Vec::new();
        if let Some(list) = &sel.protocols {
            columns = under_protocols(columns, list, &mut left_out).map_err(|e| asked("protocol", e))?;
        }
        // Clients that cannot follow the time library (accelerates = false) still run at any
        // speed: on real time, the contract gives them their hold divided by it and keepalive 0.
        let columns = runnable(columns, sel, &left_out)?;
        let copies = match &sel.copies {
            None => 1,
            Some(c) => copies::parse_copies(c).map_err(|e| asked("copies", e))?,
        };
        let jobs = match &sel.jobs {
            None => None,
            Some(j) => Some(parse_jobs(j).map_err(|e| asked("jobs", e))?),
        };
        let routes = match &sel.routes {
            Some(names) => route::parse_routes(names).map_err(|e| asked("routes", e))?,
            None => set.routes.clone().unwrap_or_else(|| file.routes.clone()),
        };
        left_out.extend(direct_only(&columns, &routes));
        if columns.iter().all(|c| !routes.iter().any(|r| r.carries(c))) {
            return Err(asked("routes", uncarried(&columns, &routes)));
        }
        let rows: Vec<String> = tags.iter().flat_map(|tag| (1..=copies).map(move |k| copies::row(tag, k, copies))).collect();
        let mut cells = Vec::new();
        for row in &rows {
            for &route in &routes {
                for column in columns.iter().filter(|c| route.carries(c)) {
                    let expect = set.expectation(copies::image_tag(row), column, route);
                    cells.push(Cell { tag: row.clone(), column: column.clone(), route, expect });
                }
            }
        }
        Ok(Plan {
            set: set.name.clone(),
            image: set.image.clone(),
            tags: rows,
            columns,
            routes,
            left_out,
            cells,
            speed,
            timing,
            tolerance: file.tolerance,
            broker: file.broker.clone(),
            workdir: file.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(),
            digests: set.digests.clone(),
            copies,
            jobs,
            known_issues: file.known_issues.clone(),
            client_mode,
        })
    }

    /// The transports the columns use, each once, in column order: the listeners every
    /// broker of the run must answer on before its sessions start.
    pub fn transports(&self) -> Vec<Transport> {
        let mut used = Vec::new();
        for c in &self.columns {
            if !used.contains(&c.transport()) {
                used.push(c.transport());
            }
        }
        used
    }

    /// The grid's columns: every column under every route that carries it, route by route,
    /// named as results name them (`rfc6455`, `nginx/rfc6455`; see [`route::column_key`]).
    pub fn keys(&self) -> Vec<String> {
        self.routes
            .iter()
            .flat_map(|r| self.columns.iter().filter(|c| r.carries(c)).map(|c| route::column_key(&r.name(), c.name())))
            .collect()
    }

    /// Whether a cell of the run speaks TLS, so its brokers need the TLS listener or its
    /// proxies a certificate.
    pub fn needs_tls(&self) -> bool {
        self.cells.iter().any(|c| c.route.is_tls())
    }

    /// The proxies the run's cells go through, each once, in route order.
    pub fn proxies(&self) -> Vec<route::ProxyName> {
        let mut out = Vec::new();
        for p in self.routes.iter().filter_map(|r| r.proxy()) {
            if !out.contains(&p) && self.cells.iter().any(|c| c.route.proxy() == Some(p)) {
                out.push(p);
            }
        }
        out
    }

    /// Keeps shard `index` of `count` (1-based): whole tags, dealt round-robin in file
    /// order, so each shard starts only its own brokers and the split is deterministic.
    pub fn shard(mut self, shard: Shard) -> Plan {
        let keep: Vec<String> =
            self.tags.iter().enumerate().filter(|(i, _)| i % shard.count == shard.index - 1).map(|(_, t)| t.clone()).collect();
        self.cells.retain(|c| keep.contains(&c.tag));
        self.tags = keep;
        self
    }

    /// Whether the hold passes the 5-minute mark.
    pub fn reaches_five_minute_mark(&self) -> bool {
        self.timing.hold > FIVE_MINUTE_MARK
    }
}

/// Which versions of each versioned client a run asked for: the client and its versions, in
/// the order asked.
type WantedVersions = Vec<(String, Vec<String>)>;

/// Reads `--client-versions`: `all` (every version of every versioned client), or a
/// comma-separated list of `X@version` and `X@*`. A version `versions = [...]` does not list is
/// taken when the client names its registry (`releases = ...`): it runs on demand.
pub fn parse_client_versions(text: &str, versioned: &[ClientVersions]) -> Result<WantedVersions, String> {
    if text.trim() == "all" {
        return Ok(versioned.iter().map(|f| (f.client.clone(), f.versions.clone())).collect());
    }
    let known = || {
        versioned.iter().map(|f| format!("{}@{{{}}}", f.client, f.versions.join(","))).collect::<Vec<_>>().join(" ")
    };
    let mut wanted: WantedVersions = Vec::new();
    for item in split_list(text) {
        let Some((client, version)) = item.split_once('@') else {
            return Err(format!("{item:?} is not a client version; write all, or X@VERSION or X@* (known: {})", known()));
        };
        let family = versioned
            .iter()
            .find(|f| f.client == client)
            .ok_or_else(|| format!("{client:?} is not a client with versions (known: {})", known()))?;
        let versions = if version == "*" {
            family.versions.clone()
        } else if family.versions.iter().any(|v| v == version) {
            vec![version.to_string()]
        } else if family.releases.is_some() && is_version(version) {
            // Not listed: installed on demand from its registry before the run (plan::ondemand).
            vec![version.to_string()]
        } else if family.releases.is_some() {
            return Err(format!("{client:?}: {version:?} is not a version; a version may hold only letters, digits, '.', '_', '-' and '+'"));
        } else {
            return Err(format!("{client:?} has no version {version:?}; it offers {}, and names no registry (releases = ...) to install another from", family.versions.join(", ")));
        };
        match wanted.iter_mut().find(|(c, _)| c == client) {
            Some((_, list)) => list.extend(versions.into_iter().filter(|v| !list.contains(v)).collect::<Vec<_>>()),
            None => wanted.push((client.to_string(), versions)),
        }
    }
    if wanted.is_empty() {
        return Err("no client version given; write all, or X@VERSION or X@*".into());
    }
    Ok(wanted)
}

/// The columns with each asked client's versions in place of the ones it had: where the
/// client's first version stood, or at the end when the columns had none of it.
fn with_versions(columns: Vec<Column>, wanted: &WantedVersions, clients: &[CommandClient]) -> Vec<Column> {
    let family_of = |c: &Column| match c {
        Column::Command(k) => k.name.split_once('@').map(|(f, _)| f.to_string()),
        // A column under another MQTT version keeps the version it was named with.
        Column::Builtin(_) | Column::Under { .. } => None,
    };
    let versions_of = |client: &str| -> Vec<Column> {
        let list = wanted.iter().find(|(c, _)| c == client).map(|(_, v)| v.as_slice()).unwrap_or_default();
        list.iter().filter_map(|v| find_column(&format!("{client}@{v}"), clients)).collect()
    };
    let mut out: Vec<Column> = Vec::new();
    let mut placed: Vec<String> = Vec::new();
    for c in columns {
        match family_of(&c) {
            Some(f) if wanted.iter().any(|(w, _)| *w == f) => {
                if !placed.contains(&f) {
                    out.extend(versions_of(&f));
                    placed.push(f);
                }
            }
            _ => out.push(c),
        }
    }
    for (client, _) in wanted {
        if !placed.contains(client) {
            out.extend(versions_of(client));
        }
    }
    out
}

/// A column the plan leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeftOut {
    /// The column's name.
    pub column: String,
    /// Why it does not run.
    pub why: String,
}

/// The fastest clock a run may ask for: beyond it a 10 s window of libwebsockets is shorter
/// than the harness's own scheduling jitter on a small machine.
pub const MAX_SPEED: u32 = 60;

/// Parses a speed: a whole number from 1 to [`MAX_SPEED`], optionally written `x10` or `×10`.
pub fn parse_speed(text: &str) -> Result<u32, String> {
    let t = text.trim().trim_start_matches(['x', 'X', '×']);
    match t.parse::<u32>() {
        Ok(n) if (1..=MAX_SPEED).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a speed; write a whole number from 1 (real time) to {MAX_SPEED}, as in 10")),
    }
}

/// Parses `--jobs`: a whole number of cores from 1 to 256.
pub fn parse_jobs(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a number of jobs; write how many cores' worth of start-ups may run at once, from 1 to 256, as in 2")),
    }
}
