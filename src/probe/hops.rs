//! The hops known to end sessions on a timer (`probe-hops.toml`, embedded at build time), and
//! which of them a measured limit points at. Pure.

use std::time::Duration;

use serde::Deserialize;

/// The table, as written in the repository.
pub const HOPS_TOML: &str = include_str!("../../probe-hops.toml");

/// What a hop's timer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Time without traffic: keepalives below it keep a session.
    Idle,
    /// Time since the session began, whatever the traffic.
    Lifetime,
}

impl LimitKind {
    /// "silent for", "old".
    pub fn words(self) -> &'static str {
        match self {
            LimitKind::Idle => "silent for",
            LimitKind::Lifetime => "old",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    /// The product: "nginx", "AWS Elastic Load Balancing".
    pub name: String,
    /// The setting behind the limit.
    pub setting: String,
    /// The limit's default, in seconds.
    pub seconds: u64,
    /// What it counts.
    pub kind: LimitKind,
    /// Where the figure comes from.
    pub source: String,
    /// Whether the figure was read in that source.
    pub checked: bool,
    /// The project's own measurement of it, if any.
    #[serde(default)]
    pub measured: Option<String>,
    /// The setting that removes the limit.
    pub fix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    hop: Vec<Hop>,
}

/// The table could not be read (a broken edit of `probe-hops.toml`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("probe-hops.toml: {0}")]
pub struct HopsError(String);

/// Reads a table in `probe-hops.toml`'s form.
pub fn parse(text: &str) -> Result<Vec<Hop>, HopsError> {
    let table: Table = toml::from_str(text).map_err(|e| HopsError(e.to_string()))?;
    for h in &table.hop {
        if h.seconds == 0 {
            return Err(HopsError(format!("{}: seconds must be more than zero", h.name)));
        }
    }
    Ok(table.hop)
}

/// The built-in table.
pub fn known() -> Vec<Hop> {
    // Checked by a test on every build; an empty table only loses the names, never the answer.
    parse(HOPS_TOML).unwrap_or_default()
}

/// Whether a measured limit is this hop's: within 5 % of its figure, at least 3 s either way.
pub fn matches(hop: &Hop, kind: LimitKind, measured: Duration) -> bool {
    let figure = hop.seconds as f64;
    let slack = (figure * 0.05).max(3.0);
    hop.kind == kind && (measured.as_secs_f64() - figure).abs() <= slack
}

/// The hops whose default is a limit of `kind` at `measured`.
pub fn candidates(hops: &[Hop], kind: LimitKind, measured: Duration) -> Vec<&Hop> {
    hops.iter().filter(|h| matches(h, kind, measured)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_names_every_figure_the_issue_lists() {
        let hops = parse(HOPS_TOML).expect("probe-hops.toml parses");
        let has = |name: &str, secs: u64, kind: LimitKind| hops.iter().any(|h| h.name.contains(name) && h.seconds == secs && h.kind == kind);
        assert!(has("nginx", 60, LimitKind::Idle));
        assert!(has("HAProxy", 50, LimitKind::Idle));
        assert!(has("Apache", 300, LimitKind::Idle));
        assert!(has("Elastic Load Balancing", 60, LimitKind::Idle));
        assert!(has("Oracle", 60, LimitKind::Idle));
        assert!(has("Cloudflare", 100, LimitKind::Idle));
        assert!(has("Google Cloud", 30, LimitKind::Lifetime));
        assert!(hops.iter().all(|h| !h.source.is_empty() && !h.fix.is_empty()));
    }

    #[test]
    fn a_limit_of_61_s_idle_is_nginx_elb_and_oracle_and_not_a_lifetime() {
        let hops = known();
        let names: Vec<&str> = candidates(&hops, LimitKind::Idle, Duration::from_millis(61_200)).iter().map(|h| h.name.as_str()).collect();
        assert!(names.iter().any(|n| n.contains("nginx")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("Elastic")), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("HAProxy")), "{names:?}");
        assert!(candidates(&hops, LimitKind::Lifetime, Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn a_limit_of_30_s_lifetime_is_google_clouds_load_balancer() {
        let hops = known();
        let found = candidates(&hops, LimitKind::Lifetime, Duration::from_millis(30_400));
        assert_eq!(found.len(), 1);
        assert!(found[0].name.contains("Google Cloud"));
    }

    #[test]
    fn a_broken_table_says_what_is_wrong() {
        let e = parse("[[hop]]\nname = \"x\"\n").expect_err("missing fields");
        assert!(e.to_string().starts_with("probe-hops.toml: "), "{e}");
        let zero = "[[hop]]\nname='x'\nsetting='s'\nseconds=0\nkind='idle'\nsource='s'\nchecked=true\nfix='f'\n";
        assert!(parse(zero).expect_err("zero").to_string().contains("more than zero"));
    }
}
