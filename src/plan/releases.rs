//! Where a client's releases are published (matrix.toml's `releases = "pypi:paho-mqtt"`), and
//! the order of release versions as the registries spell them, so `discover --clients` can list
//! the ones matrix.toml does not know, newest first, with pre-releases marked.
//!
//! Pure: the registries are asked in `engine::releases`.

use std::cmp::Ordering;
use std::fmt;

/// A package registry a client is released to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Registry {
    /// The Python Package Index (`pypi:NAME`).
    Pypi,
    /// The npm registry (`npm:NAME`).
    Npm,
    /// A Maven repository, Maven Central by default (`maven:GROUP:ARTIFACT`).
    Maven,
    /// The Go module proxy (`go:MODULE`).
    Go,
}

impl Registry {
    /// The word matrix.toml uses before the colon.
    pub fn key(self) -> &'static str {
        match self {
            Registry::Pypi => "pypi",
            Registry::Npm => "npm",
            Registry::Maven => "maven",
            Registry::Go => "go",
        }
    }

    /// Its name for people.
    pub fn title(self) -> &'static str {
        match self {
            Registry::Pypi => "PyPI",
            Registry::Npm => "npm",
            Registry::Maven => "Maven",
            Registry::Go => "Go module proxy",
        }
    }
}

/// A client's package in its registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Releases {
    /// Where.
    pub registry: Registry,
    /// The package: a PyPI or npm name, `group:artifact` for Maven, a module path for Go.
    pub package: String,
}

impl Releases {
    /// Reads `pypi:paho-mqtt`, `npm:mqtt`, `maven:org.eclipse.paho:org.eclipse.paho.client.mqttv3`
    /// or `go:github.com/eclipse/paho.golang`.
    pub fn parse(text: &str) -> Result<Releases, String> {
        let (key, package) = text.split_once(':').ok_or_else(|| format!("{text:?} is not REGISTRY:PACKAGE (pypi:, npm:, maven:, go:)"))?;
        let registry = match key {
            "pypi" => Registry::Pypi,
            "npm" => Registry::Npm,
            "maven" => Registry::Maven,
            "go" => Registry::Go,
            other => return Err(format!("registry {other:?} in {text:?} is not pypi, npm, maven or go")),
        };
        let package = package.trim();
        let ok = match registry {
            Registry::Maven => package.split(':').count() == 2 && package.split(':').all(|p| !p.is_empty()),
            _ => !package.is_empty() && !package.contains(char::is_whitespace),
        };
        if !ok {
            let shape = if registry == Registry::Maven { "GROUP:ARTIFACT" } else { "a package name without spaces" };
            return Err(format!("{text:?}: the package must be {shape}"));
        }
        Ok(Releases { registry, package: package.to_string() })
    }
}

impl fmt::Display for Releases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.registry.key(), self.package)
    }
}

/// Whether a version, as its registry spells it, is a pre-release: a semver `-` suffix (npm,
/// Go; Go's pseudo-versions too), PEP 440's `a`, `b`, `rc`, `dev`, or Maven's qualifiers
/// (`-SNAPSHOT`, `-M1`, `-RC1`, `alpha`, `beta`).
pub fn is_prerelease(version: &str) -> bool {
    let v = version.trim().trim_start_matches('v').to_ascii_lowercase();
    // Semver build metadata (`+incompatible`, `+build.5`) says nothing about pre-release.
    let v = v.split('+').next().unwrap_or_default();
    let core_end = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let rest = v[core_end..].trim_start_matches(['-', '.', '_']);
    // Maven's `.Final`, `-GA` and `.RELEASE` are releases.
    !(rest.is_empty() || matches!(rest, "final" | "ga" | "release"))
}

/// One piece of a version: a number or a word.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Number(u64),
    Word(&'a str),
}

fn pieces(version: &str) -> Vec<Piece<'_>> {
    let v = version.trim_start_matches('v');
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = v.as_bytes();
    while start < bytes.len() {
        if !bytes[start].is_ascii_alphanumeric() {
            start += 1;
            continue;
        }
        let digit = bytes[start].is_ascii_digit();
        let mut end = start;
        while end < bytes.len() && bytes[end].is_ascii_alphanumeric() && bytes[end].is_ascii_digit() == digit {
            end += 1;
        }
        let text = &v[start..end];
        out.push(if digit { text.parse().map(Piece::Number).unwrap_or(Piece::Word(text)) } else { Piece::Word(text) });
        start = end;
    }
    out
}

/// Release order of two versions as registries spell them: numbers compared as numbers, and a
/// pre-release before the release it leads to (`2.2.0rc1` < `2.2.0` < `2.2.1`).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (pieces(a), pieces(b));
    // The leading numbers first: the release the version is or leads to.
    let nums = |p: &[Piece<'_>]| p.iter().map_while(|x| if let Piece::Number(n) = x { Some(*n) } else { None }).collect::<Vec<_>>();
    let (na, nb) = (nums(&pa), nums(&pb));
    let width = na.len().max(nb.len());
    for i in 0..width {
        match na.get(i).copied().unwrap_or(0).cmp(&nb.get(i).copied().unwrap_or(0)) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    // Same release: a release outranks its pre-releases; two pre-releases by their suffix.
    match (is_prerelease(a), is_prerelease(b)) {
        (false, true) => return Ordering::Greater,
        (true, false) => return Ordering::Less,
        _ => {}
    }
    let (ra, rb) = (&pa[na.len()..], &pb[nb.len()..]);
    for (x, y) in ra.iter().zip(rb.iter()) {
        let o = match (x, y) {
            (Piece::Number(x), Piece::Number(y)) => x.cmp(y),
            (Piece::Word(x), Piece::Word(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
            (Piece::Number(_), Piece::Word(_)) => Ordering::Greater,
            (Piece::Word(_), Piece::Number(_)) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ra.len().cmp(&rb.len()).then_with(|| a.cmp(b))
}

/// A version a registry serves that matrix.toml does not list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelease {
    /// As matrix.toml would write it (Go's leading `v` dropped, as the versions = [...] lists do).
    pub version: String,
    /// Whether it is a pre-release.
    pub prerelease: bool,
}

/// The versions `served` has that `known` lacks, newest first. Go's `v` prefix is not part of
/// a version as matrix.toml writes it.
pub fn new_releases(served: &[String], known: &[String]) -> Vec<NewRelease> {
    let mut new: Vec<&str> = served
        .iter()
        .map(|v| v.trim())
        .map(|v| v.strip_prefix('v').filter(|r| r.starts_with(|c: char| c.is_ascii_digit())).unwrap_or(v))
        .filter(|v| !v.is_empty() && !known.iter().any(|k| k == v))
        .collect();
    new.sort_by(|a, b| compare(b, a));
    new.dedup();
    new.into_iter().map(|v| NewRelease { version: v.to_string(), prerelease: is_prerelease(v) }).collect()
}

/// Of `new`, the releases after the newest version `known` lists, pre-releases left out: what a
/// nightly run tries (an older release nobody listed is not news).
pub fn newer_than_known(new: &[NewRelease], known: &[String]) -> Vec<NewRelease> {
    let newest = known.iter().max_by(|a, b| compare(a, b));
    new.iter().filter(|r| !r.prerelease && newest.is_none_or(|n| compare(&r.version, n) == Ordering::Greater)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_releases_line_names_its_registry_and_a_bad_one_says_what_is_expected() {
        assert_eq!(Releases::parse("pypi:paho-mqtt"), Ok(Releases { registry: Registry::Pypi, package: "paho-mqtt".into() }));
        assert_eq!(Releases::parse("maven:org.eclipse.paho:org.eclipse.paho.mqttv5.client").map(|r| r.registry), Ok(Registry::Maven));
        assert!(Releases::parse("maven:org.eclipse.paho").expect_err("no artifact").contains("GROUP:ARTIFACT"));
        assert!(Releases::parse("cpan:Net::MQTT").expect_err("unknown").contains("not pypi, npm, maven or go"));
        assert!(Releases::parse("paho-mqtt").is_err());
        assert_eq!(Releases::parse("go:github.com/eclipse/paho.golang").map(|r| r.to_string()).as_deref(), Ok("go:github.com/eclipse/paho.golang"));
    }

    #[test]
    fn pre_releases_are_told_apart_in_each_registrys_spelling() {
        for pre in ["2.2.0rc1", "2.0.0a1", "1.0.dev3", "6.0.0-beta.2", "v0.24.0-rc.1", "v0.0.0-20240101000000-abcdef123456", "1.3.0-SNAPSHOT", "2.0.0-M1"] {
            assert!(is_prerelease(pre), "{pre}");
        }
        for rel in ["2.2.0", "v0.23.0", "1.2.5", "4.1.140.Final", "5.16.0"] {
            assert!(!is_prerelease(rel), "{rel}");
        }
    }

    #[test]
    fn versions_go_in_release_order_with_a_pre_release_before_its_release() {
        let mut v = vec!["2.2.0", "2.10.0", "2.2.0rc1", "1.6.1", "2.2.1", "2.9.9"];
        v.sort_by(|a, b| compare(a, b));
        assert_eq!(v, ["1.6.1", "2.2.0rc1", "2.2.0", "2.2.1", "2.9.9", "2.10.0"]);
        assert_eq!(compare("v0.23.0", "0.22.0"), Ordering::Greater);
        assert_eq!(compare("6.0.0-beta.2", "6.0.0-beta.10"), Ordering::Less);
    }

    #[test]
    fn new_releases_are_what_the_registry_serves_and_the_file_lacks_newest_first() {
        let served: Vec<String> = ["1.5.1", "1.6.1", "2.2.0", "2.3.0rc1", "2.1.0"].iter().map(|s| s.to_string()).collect();
        let known: Vec<String> = ["1.5.1", "1.6.1", "2.1.0"].iter().map(|s| s.to_string()).collect();
        let new = new_releases(&served, &known);
        assert_eq!(new, [NewRelease { version: "2.3.0rc1".into(), prerelease: true }, NewRelease { version: "2.2.0".into(), prerelease: false }]);
        let go = new_releases(&["v0.22.0".into(), "v0.23.0".into()], &["0.23.0".into()]);
        assert_eq!(go, [NewRelease { version: "0.22.0".into(), prerelease: false }]);
    }

    #[test]
    fn the_nightly_tries_only_releases_after_the_newest_listed_and_no_pre_release() {
        let served: Vec<String> = ["1.5.0", "2.2.0", "2.3.0rc1", "2.3.0", "2.10.1"].iter().map(|s| s.to_string()).collect();
        let known: Vec<String> = ["1.6.1", "2.2.0"].iter().map(|s| s.to_string()).collect();
        let newer = newer_than_known(&new_releases(&served, &known), &known);
        assert_eq!(newer.iter().map(|r| r.version.as_str()).collect::<Vec<_>>(), ["2.10.1", "2.3.0"]);
    }
}
