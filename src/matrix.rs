//! matrix.toml: the single source of what runs, validated where it is loaded.
//!
//! Every mistake is reported with the file, the line and what is wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use crate::profile::Profile;
use crate::session::Timing;
use crate::units::parse_duration;
use crate::verdict::{Outcome, Verdict, FIVE_MINUTE_MARK};

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
    broker: RawBroker,
    sets: IndexMap<Spanned<String>, RawSet>,
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
    expect: RawExpect,
}

/// What a cell is expected to do: an outcome, and for ends, roughly when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expectation {
    /// The expected outcome.
    pub outcome: Outcome,
    /// When the session should end, after CONNACK (`EOF@300`).
    pub at: Option<Duration>,
}

impl Expectation {
    /// Parses `OK`, `EOF@300`, `CLOSED@310.5` and so on.
    pub fn parse(text: &str) -> Result<Expectation, String> {
        let (kind, at) = match text.split_once('@') {
            Some((k, t)) => (k, Some(t)),
            None => (text, None),
        };
        let outcome = Outcome::from_name(kind.trim())
            .ok_or_else(|| format!("{text:?} is not an expectation; write OK, EOF, CLOSED, TIMEOUT, REFUSED or ERROR, optionally with @seconds as in \"EOF@300\""))?;
        let at = at
            .map(|t| {
                t.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("{text:?}: the time after @ must be seconds, as in \"EOF@300\""))
            })
            .transpose()?;
        Ok(Expectation { outcome, at })
    }

    /// Whether a verdict meets this expectation, with `tolerance` on the time.
    pub fn is_met_by(&self, v: &Verdict, tolerance: Duration) -> bool {
        if v.outcome != self.outcome {
            return false;
        }
        match (self.at, v.at) {
            (None, _) => true,
            (Some(want), Some(got)) => want.abs_diff(got) <= tolerance,
            (Some(_), None) => false,
        }
    }

    /// Whether a run with this hold can observe the expectation at all.
    pub fn is_observable_within(&self, hold: Duration) -> bool {
        match self.outcome {
            Outcome::Ok => hold > FIVE_MINUTE_MARK,
            _ => self.at.is_none_or(|at| at < hold),
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{}@{}", self.outcome, fmt_at(at)),
            None => write!(f, "{}", self.outcome),
        }
    }
}

fn fmt_at(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
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
    /// How long a broker may take to say it is running.
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
    /// Expected outcome per (tag, profile).
    pub expect: BTreeMap<(String, Profile), Expectation>,
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
    /// The profiles (columns), in order.
    pub profiles: Vec<Profile>,
    /// Broker files and credentials.
    pub broker: BrokerSettings,
    /// The image sets, in file order.
    pub sets: Vec<ImageSet>,
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

    fn profile(&self, v: &Spanned<String>) -> Result<Profile, ConfigError> {
        Profile::from_name(v.get_ref()).ok_or_else(|| self.at(v.span(), unknown_profile(v.get_ref())))
    }
}

fn unknown_profile(name: &str) -> String {
    let known: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
    format!("unknown profile {name:?}; known profiles: {}", known.join(", "))
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
        let hold = cx.duration("hold", &raw.hold)?;
        if hold <= FIVE_MINUTE_MARK {
            return Err(cx.at(
                raw.hold.span(),
                format!(
                    "hold = {:?} cannot see the 5-minute mark: libwebsockets >= 4.0 sends its PING 300 s after \
                     the last PONG, so a hold must be longer than 300 s (330s is the default); \
                     for a quick look set MATRIX_HOLD instead",
                    raw.hold.get_ref()
                ),
            ));
        }
        let keepalive = cx.duration("keepalive", &raw.keepalive)?;
        if keepalive.is_zero() {
            return Err(cx.at(raw.keepalive.span(), "keepalive must be more than zero"));
        }
        let timing = Timing {
            hold,
            keepalive,
            late_pong: cx.duration("late_pong", &raw.late_pong)?,
            setup_timeout: match &raw.setup_timeout {
                Some(v) => cx.duration("setup_timeout", v)?,
                None => Duration::from_secs(20),
            },
            round_trip_timeout: match &raw.round_trip_timeout {
                Some(v) => cx.duration("round_trip_timeout", v)?,
                None => Duration::from_secs(10),
            },
        };
        let mut profiles = Vec::new();
        for p in &raw.profiles {
            let profile = cx.profile(p)?;
            if profiles.contains(&profile) {
                return Err(cx.at(p.span(), format!("profile {:?} is listed twice", p.get_ref())));
            }
            profiles.push(profile);
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let broker = BrokerSettings {
            config: base.join(raw.broker.config.get_ref()),
            password_file: base.join(raw.broker.password_file.get_ref()),
            username: raw.broker.username,
            password: raw.broker.password,
            startup_timeout: cx.duration("startup_timeout", &raw.broker.startup_timeout)?,
        };
        let mut sets = Vec::new();
        for (name, set) in &raw.sets {
            sets.push(load_set(&cx, name.get_ref(), set)?);
        }
        if !sets.iter().any(|s| &s.name == raw.default_set.get_ref()) {
            return Err(cx.at(raw.default_set.span(), unknown_set(raw.default_set.get_ref(), &sets)));
        }
        Ok(MatrixFile {
            path: path.to_path_buf(),
            timing,
            tolerance: cx.duration("tolerance", &raw.tolerance)?,
            default_set: raw.default_set.into_inner(),
            profiles,
            broker,
            sets,
        })
    }

    /// The set with this name.
    pub fn set(&self, name: &str) -> Option<&ImageSet> {
        self.sets.iter().find(|s| s.name == name)
    }
}

fn unknown_set(name: &str, sets: &[ImageSet]) -> String {
    let known: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
    format!("unknown set {name:?}; this file defines: {}", known.join(", "))
}

fn load_set(cx: &Ctx<'_>, name: &str, raw: &RawSet) -> Result<ImageSet, ConfigError> {
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
        for (profile, text) in row.get_ref() {
            let profile = cx.profile(profile)?;
            let e = Expectation::parse(text.get_ref()).map_err(|e| cx.at(text.span(), e))?;
            expect.insert((tag.get_ref().clone(), profile), e);
        }
    }
    Ok(ImageSet { name: name.to_string(), image: raw.image.clone(), tags, expect })
}

/// What a run asks for beyond the file: from the environment or the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The set to run (else the file's default).
    pub set: Option<String>,
    /// Tags to run; a tag the set does not list runs with no expectation, reported as new.
    pub tags: Option<Vec<String>>,
    /// Profiles to run.
    pub profiles: Option<Vec<String>>,
    /// A hold for a quick look; may be below the 5-minute mark.
    pub hold: Option<String>,
    /// The name the values came from in error messages (e.g. `MATRIX_` or `--`).
    pub origin: SelectionOrigin,
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
    fn name(self, key: &str) -> String {
        match self {
            SelectionOrigin::Environment => format!("MATRIX_{}", key.to_uppercase()),
            SelectionOrigin::CommandLine => format!("--{key}"),
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
}

impl Selection {
    /// Reads `MATRIX_SET`, `MATRIX_TAGS`, `MATRIX_PROFILES` and `MATRIX_HOLD`.
    pub fn from_env() -> Selection {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Selection {
            set: var("MATRIX_SET"),
            tags: var("MATRIX_TAGS").map(|v| split_list(&v)),
            profiles: var("MATRIX_PROFILES").map(|v| split_list(&v)),
            hold: var("MATRIX_HOLD"),
            origin: SelectionOrigin::Environment,
        }
    }
}

/// One (tag, profile) cell to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The image tag.
    pub tag: String,
    /// The client profile.
    pub profile: Profile,
    /// What matrix.toml expects; `None` for a tag it does not list (a new release).
    pub expect: Option<Expectation>,
}

impl Cell {
    /// The cell's stable name, `tag/profile`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.tag, self.profile)
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
    /// Tags in order.
    pub tags: Vec<String>,
    /// Profiles in order (the columns).
    pub profiles: Vec<Profile>,
    /// Every cell, tag-major.
    pub cells: Vec<Cell>,
    /// Durations (the hold may be a quick-look one).
    pub timing: Timing,
    /// Tolerance on expected end times.
    pub tolerance: Duration,
    /// Broker files and credentials.
    pub broker: BrokerSettings,
}

impl Plan {
    /// Resolves a selection against the file.
    pub fn new(file: &MatrixFile, sel: &Selection) -> Result<Plan, ConfigError> {
        let asked = |key: &str, what: String| ConfigError::Asked { origin: sel.origin.name(key), what };
        let set_name = sel.set.clone().unwrap_or_else(|| file.default_set.clone());
        let set = file.set(&set_name).ok_or_else(|| asked("set", unknown_set(&set_name, &file.sets)))?;
        let tags = match &sel.tags {
            Some(t) if t.is_empty() => return Err(asked("tags", "no tags given".into())),
            Some(t) => t.clone(),
            None => set.tags.clone(),
        };
        let profiles = match &sel.profiles {
            Some(names) => names
                .iter()
                .map(|n| Profile::from_name(n).ok_or_else(|| asked("profiles", unknown_profile(n))))
                .collect::<Result<Vec<_>, _>>()?,
            None => file.profiles.clone(),
        };
        let mut timing = file.timing;
        if let Some(h) = &sel.hold {
            timing.hold = parse_duration(h).map_err(|e| asked("hold", e))?;
            if timing.hold.is_zero() {
                return Err(asked("hold", "the hold must be more than zero".into()));
            }
        }
        let cells = tags
            .iter()
            .flat_map(|tag| {
                profiles.iter().map(|&profile| Cell {
                    tag: tag.clone(),
                    profile,
                    expect: set.expect.get(&(tag.clone(), profile)).copied(),
                })
            })
            .collect();
        Ok(Plan {
            set: set.name.clone(),
            image: set.image.clone(),
            tags,
            profiles,
            cells,
            timing,
            tolerance: file.tolerance,
            broker: file.broker.clone(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_parse_with_and_without_a_time() {
        assert_eq!(Expectation::parse("OK"), Ok(Expectation { outcome: Outcome::Ok, at: None }));
        assert_eq!(
            Expectation::parse("EOF@310"),
            Ok(Expectation { outcome: Outcome::Eof, at: Some(Duration::from_secs(310)) })
        );
        assert!(Expectation::parse("EOF@soon").is_err());
        assert!(Expectation::parse("FINE").is_err());
        assert_eq!(Expectation::parse("EOF@300").expect("valid").to_string(), "EOF@300");
    }

    #[test]
    fn a_late_end_cannot_be_observed_in_a_short_hold() {
        let e = Expectation::parse("EOF@300").expect("valid");
        assert!(!e.is_observable_within(Duration::from_secs(20)));
        assert!(e.is_observable_within(Duration::from_secs(330)));
    }
}
