//! Mosquitto release versions as tags and `$SYS/broker/version` spell them, so tags can be
//! put in release order and grouped into release lines (`2.0`).

use std::fmt;

/// A release version, `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// The major number.
    pub major: u32,
    /// The minor number.
    pub minor: u32,
    /// The patch number.
    pub patch: u32,
}

impl Version {
    /// Reads the version at the start of a tag or a broker's words: `2.0.11`, `2.1.0-alpine`,
    /// `mosquitto version 2.0.11`; `None` for a name such as `bookworm`.
    pub fn find(text: &str) -> Option<Version> {
        let text = text.trim().trim_start_matches("mosquitto version ").trim_start_matches('v');
        let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
        let mut parts = text[..end].split('.');
        let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
        let (major, minor, patch) = (next()?, next()?, next()?);
        Some(Version { major, minor, patch })
    }

    /// The release line, `2.0` for 2.0.11.
    pub fn line(self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_read_from_tags_and_broker_words_but_not_from_names() {
        let v = |text| Version::find(text).map(|v| v.to_string());
        assert_eq!(v("2.0.11").as_deref(), Some("2.0.11"));
        assert_eq!(v("2.1.0-alpine").as_deref(), Some("2.1.0"));
        assert_eq!(v("mosquitto version 1.6.15").as_deref(), Some("1.6.15"));
        assert_eq!(v("bookworm"), None);
        assert_eq!(v("2.0"), None);
        assert!(Version::find("1.6.15") < Version::find("2.0.0"));
        assert!(Version::find("2.0.9") < Version::find("2.0.10"));
    }
}
