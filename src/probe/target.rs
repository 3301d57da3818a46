//! The endpoint a probe is pointed at: `ws://`, `wss://`, `mqtt://` or `mqtts://`, a host, a
//! port (the scheme's own when none is given) and, over WebSocket, a path. Pure.

use std::fmt;

use crate::plan::Transport;

/// The four schemes a probe speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket over TLS.
    Wss,
    /// MQTT over TCP.
    Mqtt,
    /// MQTT over TLS.
    Mqtts,
}

impl Scheme {
    /// The scheme as written in a URL.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
        }
    }

    /// WebSocket or TCP.
    pub fn transport(self) -> Transport {
        match self {
            Scheme::Ws | Scheme::Wss => Transport::Ws,
            Scheme::Mqtt | Scheme::Mqtts => Transport::Tcp,
        }
    }

    /// Whether the connection runs inside TLS.
    pub fn tls(self) -> bool {
        matches!(self, Scheme::Wss | Scheme::Mqtts)
    }

    /// The port when the URL names none: 80, 443, 1883, 8883.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
        }
    }
}

/// A URL the probe cannot use, in words that say what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not a URL at all.
    #[error("{url:?} is not a URL ({why}); write it as ws://host:port/path, wss://…, mqtt://host:port or mqtts://…")]
    NotUrl {
        /// What was given.
        url: String,
        /// The parser's words.
        why: String,
    },
    /// A scheme other than the four.
    #[error("{url:?}: the scheme {scheme:?} is not one the probe speaks; use ws, wss, mqtt or mqtts")]
    Scheme {
        /// What was given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// No host.
    #[error("{url:?} names no host")]
    NoHost {
        /// What was given.
        url: String,
    },
    /// A user name or password in the URL: the password would be on the command line.
    #[error("{url}: put no user name or password in the URL (it would show in the process list); use --username and MATRIX_PROBE_PASSWORD or --password-file")]
    Credentials {
        /// The URL with its credentials cut out.
        url: String,
    },
}

/// Where the probe connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The scheme.
    pub scheme: Scheme,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The WebSocket path with its query (`/` when none; unused over TCP).
    pub path: String,
}

impl Target {
    /// Reads a URL: `ws://127.0.0.1:9001/mqtt`, `mqtts://broker.example:8883`.
    pub fn parse(text: &str) -> Result<Target, TargetError> {
        let url = url::Url::parse(text.trim()).map_err(|e| TargetError::NotUrl { url: text.to_string(), why: e.to_string() })?;
        let scheme = match url.scheme() {
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            "mqtt" | "tcp" => Scheme::Mqtt,
            "mqtts" | "ssl" => Scheme::Mqtts,
            other => return Err(TargetError::Scheme { url: text.to_string(), scheme: other.to_string() }),
        };
        if !url.username().is_empty() || url.password().is_some() {
            let mut shown = url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            return Err(TargetError::Credentials { url: shown.to_string() });
        }
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(h) => h.to_string(),
            None => return Err(TargetError::NoHost { url: text.to_string() }),
        };
        if host.is_empty() {
            return Err(TargetError::NoHost { url: text.to_string() });
        }
        let port = url.port().unwrap_or(scheme.default_port());
        let mut path = url.path().to_string();
        if path.is_empty() {
            path = "/".to_string();
        }
        if let Some(q) = url.query() {
            path = format!("{path}?{q}");
        }
        Ok(Target { scheme, host, port, path })
    }

    /// `host:port` (brackets round an IPv6 address).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The URL as reports show it: scheme, host, the port unless it is the scheme's own, and,
/// over WebSocket, the path.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.port == self.scheme.default_port() {
            if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() }
        } else {
            self.authority()
        };
        match self.scheme.transport() {
            Transport::Ws => write!(f, "{}://{at}{}", self.scheme.name(), self.path),
            Transport::Tcp => write!(f, "{}://{at}", self.scheme.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_has_its_transport_tls_and_default_port() {
        let t = Target::parse("wss://broker.example/mqtt").expect("parses");
        assert_eq!((t.scheme, t.port, t.path.as_str()), (Scheme::Wss, 443, "/mqtt"));
        assert!(t.scheme.tls());
        let t = Target::parse("mqtt://127.0.0.1").expect("parses");
        assert_eq!((t.scheme.transport(), t.port), (Transport::Tcp, 1883));
        assert_eq!(Target::parse("mqtts://h").expect("parses").port, 8883);
        assert_eq!(Target::parse("ws://h:9001").expect("parses").to_string(), "ws://h:9001/");
    }

    #[test]
    fn an_ipv6_host_loses_its_brackets_and_gets_them_back_when_shown() {
        let t = Target::parse("ws://[::1]:9001/mqtt?x=1").expect("parses");
        assert_eq!(t.host, "::1");
        assert_eq!(t.to_string(), "ws://[::1]:9001/mqtt?x=1");
    }

    #[test]
    fn a_url_with_a_password_is_refused_without_showing_it() {
        let e = Target::parse("ws://user:secret@h:9001/mqtt").expect_err("refused");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(e.to_string().contains("MATRIX_PROBE_PASSWORD"), "{e}");
    }

    #[test]
    fn an_unknown_scheme_names_the_four_the_probe_speaks() {
        let e = Target::parse("http://h/mqtt").expect_err("refused");
        assert!(e.to_string().contains("use ws, wss, mqtt or mqtts"), "{e}");
        assert!(Target::parse("not a url").is_err());
    }
}
