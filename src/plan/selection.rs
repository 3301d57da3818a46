//! What a run asks for beyond the file (set, tags, columns, hold, shard), resolved into a [`Plan`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::plan::file::{unknown_profile, unknown_set};
use crate::plan::{BrokerSettings, ConfigError, Expectation, MatrixFile, Profile, Timing, Transport, FIVE_MINUTE_MARK};
use crate::units::parse_duration;

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
    /// The image digest matrix.toml recorded per tag at its last baseline (`sha256:…`).
    pub digests: BTreeMap<String, String>,
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
            digests: set.digests.clone(),
        })
    }

    /// The transports the columns use, each once, in column order: the listeners every
    /// broker of the run must answer on before its sessions start.
    pub fn transports(&self) -> Vec<Transport> {
        let mut used = Vec::new();
        for p in &self.profiles {
            if !used.contains(&p.transport()) {
                used.push(p.transport());
            }
        }
        used
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
