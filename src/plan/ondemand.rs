//! Client versions on demand: a released version that matrix.toml's `versions = [...]` does not
//! list (`--client-versions paho-python@2.3.0`) still runs, as a column made from its client's
//! table, once `clients/setup.sh --client X@VERSION` has installed it from the client's own
//! registry and locked it on first use under `target/clients/locks/X/VERSION/`.
//!
//! Pure: which columns of a plan are on demand, the column of a version, where its lock goes, and
//! the words for a version the registry does not serve. The registry is asked and the set-up run
//! in `engine::ondemand`.

use crate::plan::file::{versioned_name, ClientVersions};
use crate::plan::releases::{compare, Registry, Releases};
use crate::plan::{Column, CommandClient};

/// Where `clients/setup.sh --client` writes the locks of versions it installs on demand
/// (relative to matrix.toml's folder).
pub const LOCKS_DIR: &str = "target/clients/locks";

/// One version a run asks for that matrix.toml does not list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDemand {
    /// The client (`[clients.X]`).
    pub client: String,
    /// The version, as the registry spells it without Go's `v`.
    pub version: String,
    /// Where the client is released.
    pub releases: Releases,
}

impl OnDemand {
    /// The column's name, `X@VERSION`, which is also `clients/setup.sh --client`'s argument.
    pub fn name(&self) -> String {
        versioned_name(&self.client, &self.version)
    }

    /// Where its lock lives once the set-up has installed it (relative to matrix.toml's folder).
    pub fn lock_dir(&self) -> String {
        format!("{LOCKS_DIR}/{}/{}", self.client, self.version)
    }

    /// The lock file the set-up writes there on first use, as its registry's tool names it.
    pub fn lock_file(&self) -> String {
        let name = match self.releases.registry {
            Registry::Pypi => "requirements.txt",
            Registry::Npm => "package-lock.json",
            Registry::Maven => "lock.txt",
            Registry::Go => "go.sum",
        };
        format!("{}/{name}", self.lock_dir())
    }
}

/// Whether `version` of `family` can be installed on demand: not listed, but the client names its
/// registry (`releases = ...`).
pub fn can_install(family: &ClientVersions, version: &str) -> bool {
    family.releases.is_some() && !family.versions.iter().any(|v| v == version)
}

/// The column of a version matrix.toml does not list: its client's table with the version in
/// place of `{version}`, as a listed version's column is made.
pub fn column(family: &ClientVersions, version: &str) -> CommandClient {
    family.version_column(version)
}

/// The columns (a plan's) that are versions on demand, in column order.
pub fn in_columns(columns: &[Column], versioned: &[ClientVersions]) -> Vec<OnDemand> {
    let mut out: Vec<OnDemand> = Vec::new();
    for c in columns {
        let Column::Command(k) = c.base() else { continue };
        let Some((client, version)) = k.name.split_once('@') else { continue };
        let Some(family) = versioned.iter().find(|f| f.client == client) else { continue };
        let Some(releases) = family.releases.clone() else { continue };
        let od = OnDemand { client: client.to_string(), version: version.to_string(), releases };
        if can_install(family, version) && !out.contains(&od) {
            out.push(od);
        }
    }
    out
}

/// How many versions an error lists before it says how many more there are.
const LISTED: usize = 12;

/// The error for a version the registry does not serve: what it does serve, newest first
/// (pre-releases included, as `discover --clients` lists them).
pub fn not_released(od: &OnDemand, served: &[String]) -> String {
    let mut versions: Vec<&str> = served.iter().map(|v| v.trim()).map(|v| v.strip_prefix('v').filter(|r| r.starts_with(|c: char| c.is_ascii_digit())).unwrap_or(v)).collect();
    versions.sort_by(|a, b| compare(b, a));
    versions.dedup();
    let head = format!("{} {} is not a release of {} at {}", od.client, od.version, od.releases.package, od.releases.registry.title());
    if versions.is_empty() {
        return format!("{head}: it serves no version");
    }
    let shown = versions.iter().take(LISTED).copied().collect::<Vec<_>>().join(", ");
    let more = versions.len().saturating_sub(LISTED);
    let tail = if more > 0 { format!(" and {more} older") } else { String::new() };
    format!("{head}: it serves {shown}{tail} (newest first)")
}

/// Whether the registry serves `version` (Go's `v` prefix aside).
pub fn is_served(served: &[String], version: &str) -> bool {
    served.iter().map(|v| v.trim()).any(|v| v == version || v.strip_prefix('v') == Some(version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Transport;

    fn family() -> ClientVersions {
        let template = CommandClient {
            name: "paho-python".into(),
            command: vec!["target/clients/paho-python/{version}/venv/bin/python".into(), "clients/paho-python/hold.py".into()],
            transport: Transport::Ws,
            path: "/mqtt".into(),
            description: Some("paho-mqtt {version}".into()),
            seen_in: None,
            setup: None,
            accelerates: true,
            cost: None,
            runtime_cost: None,
            service: None,
            runtime: Some(vec!["target/clients/paho-python/{version}/venv/bin/python".into(), "clients/paho-python/runtime.py".into()]),
            protocol: Default::default(),
            artefact: Some("target/clients/paho-python/{version}/artefact".into()),
        };
        ClientVersions {
            client: "paho-python".into(),
            versions: vec!["1.6.1".into(), "2.2.0".into()],
            defaults: vec!["2.2.0".into()],
            releases: Some(Releases::parse("pypi:paho-mqtt").expect("valid")),
            template,
        }
    }

    #[test]
    fn a_version_on_demand_is_its_clients_table_with_the_version_in_place() {
        let f = family();
        let c = column(&f, "2.3.0");
        assert_eq!(c.name, "paho-python@2.3.0");
        assert_eq!(c.command[0], "target/clients/paho-python/2.3.0/venv/bin/python");
        assert_eq!(c.runtime.as_ref().map(|r| r[0].as_str()), Some("target/clients/paho-python/2.3.0/venv/bin/python"));
        assert_eq!(c.artefact.as_deref(), Some("target/clients/paho-python/2.3.0/artefact"));
        assert_eq!(c.description.as_deref(), Some("paho-mqtt 2.3.0"));
        assert!(can_install(&f, "2.3.0"));
        assert!(!can_install(&f, "2.2.0"), "a listed version has its committed lock");
        let od = OnDemand { client: "paho-python".into(), version: "2.3.0".into(), releases: f.releases.clone().expect("set") };
        assert_eq!(od.lock_file(), "target/clients/locks/paho-python/2.3.0/requirements.txt");
    }

    #[test]
    fn a_version_the_registry_does_not_serve_is_told_with_what_it_serves_newest_first() {
        let od = OnDemand { client: "paho-golang".into(), version: "0.99.0".into(), releases: Releases::parse("go:github.com/eclipse/paho.golang").expect("valid") };
        let served: Vec<String> = ["v0.21.0", "v0.23.0", "v0.22.0"].iter().map(|s| s.to_string()).collect();
        assert!(!is_served(&served, "0.99.0"));
        assert!(is_served(&served, "0.22.0"));
        assert_eq!(
            not_released(&od, &served),
            "paho-golang 0.99.0 is not a release of github.com/eclipse/paho.golang at Go module proxy: it serves 0.23.0, 0.22.0, 0.21.0 (newest first)"
        );
        let many: Vec<String> = (0..20).map(|i| format!("1.{i}.0")).collect();
        assert!(not_released(&od, &many).ends_with("it serves 1.19.0, 1.18.0, 1.17.0, 1.16.0, 1.15.0, 1.14.0, 1.13.0, 1.12.0, 1.11.0, 1.10.0, 1.9.0, 1.8.0 and 8 older (newest first)"));
        assert!(not_released(&od, &[]).ends_with("it serves no version"));
    }
}
