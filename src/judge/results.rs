//! The results of a run: every cell's verdict against its expectation, and what each image said.

use serde::{Deserialize, Serialize};

use crate::plan::Expectation;
use crate::plan::Profile;
use crate::judge::verdict::Verdict;
use crate::plan::Outcome;

/// The JSON report's schema version; bump it when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// How a cell's outcome compares with matrix.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The outcome is what matrix.toml expects.
    Met,
    /// The outcome differs: a regression or an improvement; a person must look.
    Changed,
    /// A tag matrix.toml does not list: no expectation.
    New,
    /// The hold was too short to observe what is expected (a quick look).
    Unchecked,
    /// The harness could not run the cell.
    Error,
}

impl Status {
    /// Compares a verdict with an expectation.
    pub fn of(expect: Option<&Expectation>, v: &Verdict, hold: std::time::Duration, tolerance: std::time::Duration) -> Status {
        if v.outcome == Outcome::Error {
            return Status::Error;
        }
        match expect {
            None => Status::New,
            Some(e) if e.is_met_by(v.outcome, v.at, tolerance) => Status::Met,
            // A session that survived a quick-look hold cannot contradict an end expected later;
            // anything that did end within the hold can.
            Some(e) if v.outcome == Outcome::Ok && !e.is_observable_within(hold) => Status::Unchecked,
            Some(_) => Status::Changed,
        }
    }
}

/// One cell's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// The image tag.
    pub tag: String,
    /// The client profile.
    pub profile: Profile,
    /// The expectation as written in matrix.toml (`EOF@300`), if any.
    pub expected: Option<String>,
    /// How the outcome compares with it.
    pub status: Status,
    /// The verdict.
    pub verdict: Verdict,
    /// The MQTT client identifier used.
    pub client_id: Option<String>,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    /// Wall-clock end, RFC 3339.
    pub ended_at: String,
}

impl CellResult {
    /// The cell's stable name, `tag/profile`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.tag, self.profile)
    }
}

/// What the image itself records, read through the Docker API.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageFacts {
    /// `LWS_VERSION` from the image's environment, where it records one.
    pub lws_version: Option<String>,
    /// `VERSION` from the image's environment.
    pub version: Option<String>,
    /// The repository digest (`repo@sha256:…`), or the image id (`sha256:…`) where it has none.
    pub digest: Option<String>,
}

/// Why a tag's broker could not be had, in parts, so a report can say it once for the tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerFailure {
    /// What went wrong, without the image name or the log lines:
    /// `broker not ready within 60 s (…)`, `the broker container exited with status 1 …`.
    pub reason: String,
    /// The container's exit status, when it exited before it answered.
    #[serde(default)]
    pub exit_status: Option<i64>,
    /// The last lines the broker logged.
    #[serde(default)]
    pub log_tail: Vec<String>,
}

/// What one tag's broker said about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagResult {
    /// The image tag.
    pub tag: String,
    /// The payload of `$SYS/broker/version`, as the broker reported it.
    pub broker_version: Option<String>,
    /// What the image records (LWS_VERSION, VERSION, digest).
    pub image: ImageFacts,
    /// Seconds from asking for the container (pull included, when there was one) to the
    /// moment every listener the run uses answered a CONNECT with a CONNACK.
    pub startup_secs: Option<f64>,
    /// Whether the image had to be pulled for this run (`None` when the broker could not be had).
    #[serde(default)]
    pub pulled: Option<bool>,
    /// Seconds the pull took, when it was pulled.
    #[serde(default)]
    pub pull_secs: Option<f64>,
    /// Why the broker could not be had, if it could not: the whole text, image and log lines included.
    pub error: Option<String>,
    /// The same, in parts (absent in results written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<BrokerFailure>,
    /// The digest matrix.toml recorded for this tag at its last baseline, if any (`sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_digest: Option<String>,
}

impl TagResult {
    /// The digest changed since the baseline: `(recorded, now)`, both as `sha256:…`.
    pub fn digest_change(&self) -> Option<(&str, &str)> {
        let old = self.baseline_digest.as_deref()?;
        let new = content_digest(self.image.digest.as_deref()?);
        (old != new).then_some((old, new))
    }
}

/// The content part of a digest: `sha256:…` from `repo@sha256:…`, or the text itself.
pub fn content_digest(digest: &str) -> &str {
    digest.rsplit_once('@').map_or(digest, |(_, d)| d)
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The tool's version.
    pub tool_version: String,
    /// The run id on the containers' labels.
    pub run_id: String,
    /// The image set.
    pub set: String,
    /// The image repository.
    pub image: String,
    /// The hold in seconds.
    pub hold_secs: f64,
    /// The MQTT keepalive in seconds.
    pub keepalive_secs: f64,
    /// Whether the hold passed the 5-minute mark.
    pub five_minute_mark_reached: bool,
    /// The profiles (columns), in order.
    pub profiles: Vec<Profile>,
    /// The shard this result covers (`2/3`), if the run was sharded.
    pub shard: Option<String>,
    /// Per tag, in order.
    pub tags: Vec<TagResult>,
    /// Every cell, tag-major.
    pub cells: Vec<CellResult>,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    /// Wall-clock end, RFC 3339.
    pub ended_at: String,
    /// Wall time of the whole run in seconds.
    pub wall_secs: f64,
}

impl RunResult {
    /// The cells whose outcome differs from matrix.toml.
    pub fn changed(&self) -> Vec<&CellResult> {
        self.cells.iter().filter(|c| c.status == Status::Changed).collect()
    }

    /// The cells the harness could not run.
    pub fn errors(&self) -> Vec<&CellResult> {
        self.cells.iter().filter(|c| c.status == Status::Error).collect()
    }

    /// The cell for (tag, profile).
    pub fn cell(&self, tag: &str, profile: Profile) -> Option<&CellResult> {
        self.cells.iter().find(|c| c.tag == tag && c.profile == profile)
    }
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
