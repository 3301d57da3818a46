//! What a probe was asked, and the sessions that makes: one per column × keepalive, each with
//! its own client id under the prefix and its own topic under the topic prefix. Pure.

use std::time::Duration;

use crate::plan::{Column, CommandClient, Profile, Timing, Transport, DEFAULT_LATE_PONG, DEFAULT_ROUND_TRIP_TIMEOUT, DEFAULT_SETUP_TIMEOUT};
use crate::probe::target::Target;

/// The default hold: past libwebsockets' PING at 300 s and its hang-up 10 s later.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(330);

/// The default keepalives: 30 s outlives every idle limit of the hop table (the shortest is
/// 50 s); 90 s falls to the 50 s and 60 s ones; 150 s to the 100 s and 120 s ones.
pub const DEFAULT_KEEPALIVES: [Duration; 3] = [Duration::from_secs(30), Duration::from_secs(90), Duration::from_secs(150)];

/// The default WebSocket columns: they tell apart a broker that pings (rfc6455 answers,
/// no-pong does not, paho-java-1.2.5 drops at it).
pub const DEFAULT_WS_PROFILES: [Profile; 3] = [Profile::Rfc6455, Profile::NoPong, Profile::PahoJava125];

/// The default client id prefix.
pub const DEFAULT_CLIENT_ID_PREFIX: &str = "mm-probe-";

/// The default topic prefix (a random part is added per probe).
pub const DEFAULT_TOPIC_PREFIX: &str = "mosquitto-matrix/probe";

/// Everything a probe was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeAsk {
    /// The endpoint.
    pub target: Target,
    /// The columns, each run once per keepalive.
    pub columns: Vec<Column>,
    /// The keepalives, side by side.
    pub keepalives: Vec<Duration>,
    /// Hold, set-up and round-trip bounds (the keepalive is per session).
    pub timing: Timing,
    /// MQTT user name.
    pub username: String,
    /// MQTT password (never shown).
    pub password: String,
    /// Every client id starts with this.
    pub client_id_prefix: String,
    /// Every topic lives under this.
    pub topic_prefix: String,
    /// The CA to trust on `wss://` and `mqtts://` (PEM); the public roots without it.
    pub ca: Option<std::path::PathBuf>,
}

/// One session of a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSession {
    /// Its name in the results: the column, with ` ka=30s` when keepalives run side by side.
    pub key: String,
    /// The column.
    pub column: Column,
    /// Its keepalive.
    pub keepalive: Duration,
    /// Its client id.
    pub client_id: String,
    /// Its round-trip topic.
    pub topic: String,
}

/// A duration as the command line writes it: `30s`, `1500ms`.
pub fn short(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The name of a column at a keepalive: `rfc6455 ka=30s`.
pub fn session_key(column: &str, keepalive: Duration, several: bool) -> String {
    if several {
        format!("{column} ka={}", short(keepalive))
    } else {
        column.to_string()
    }
}

impl ProbeAsk {
    /// The sessions, column by column, keepalive by keepalive; `random` makes each id and
    /// topic unique (a fresh random number per probe).
    pub fn sessions(&self, random: u64) -> Vec<ProbeSession> {
        let several = self.keepalives.len() > 1;
        let mut out = Vec::new();
        for column in &self.columns {
            for &keepalive in &self.keepalives {
                let n = out.len();
                let client_id = format!("{}{:08x}-{n}", self.client_id_prefix, random & 0xffff_ffff);
                out.push(ProbeSession {
                    key: session_key(column.name(), keepalive, several),
                    column: column.clone(),
                    keepalive,
                    topic: format!("{}/{client_id}", self.topic_prefix.trim_end_matches('/')),
                    client_id,
                });
            }
        }
        out
    }

    /// The line said before any session starts: how many, of what, for how long.
    pub fn announce(&self) -> String {
        let n = self.columns.len() * self.keepalives.len();
        let columns: Vec<&str> = self.columns.iter().map(|c| c.name()).collect();
        let kas: Vec<String> = self.keepalives.iter().map(|k| short(*k)).collect();
        format!(
            "probe {}: {n} session(s) at once ({} × keepalive {}), held {} each, client ids {}…, topics under {}/",
            self.target,
            columns.join(", "),
            kas.join(", "),
            short(self.timing.hold),
            self.client_id_prefix,
            self.topic_prefix.trim_end_matches('/')
        )
    }
}

/// Why a column cannot be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnError {
    /// Not a built-in profile nor a client of matrix.toml.
    #[error("--columns: unknown column {name:?}; built-in: {builtin}; clients: {clients}")]
    Unknown {
        /// The name.
        name: String,
        /// The built-ins the probe offers.
        builtin: String,
        /// The command clients known.
        clients: String,
    },
    /// A column of the other transport than the URL's.
    #[error("--columns: {name} speaks {column}, and {url} is {target}: give a {column} URL for it, or leave it out")]
    Transport {
        /// The column.
        name: String,
        /// Its transport.
        column: Transport,
        /// The URL.
        url: String,
        /// The URL's transport.
        target: Transport,
    },
    /// rumqttc ends its sessions from inside its event loop: it cannot be stopped with a
    /// DISCONNECT on Ctrl-C, which the probe promises.
    #[error("--columns: rumqttc is not offered by the probe: Ctrl-C could not end its session with a DISCONNECT")]
    NotStoppable,
    /// No column left.
    #[error("--columns: no column to run against {0}")]
    Empty(String),
}

/// The built-in profiles the probe offers.
pub fn offered() -> Vec<Profile> {
    Profile::ALL.into_iter().filter(|p| *p != Profile::Rumqttc).collect()
}

/// The columns for `target`: those asked by name, or the default set — the WebSocket
/// profiles that tell the cases apart (or `tcp` for a TCP URL) and the `installed` command
/// clients of the URL's transport.
pub fn pick_columns(target: &Target, asked: Option<&[String]>, clients: &[CommandClient], installed: impl Fn(&CommandClient) -> bool) -> Result<Vec<Column>, ColumnError> {
    let transport = target.scheme.transport();
    let with_path = |c: &CommandClient| Column::Command(CommandClient { path: target.path.clone(), ..c.clone() });
    let columns: Vec<Column> = match asked {
        Some(names) => {
            let mut out = Vec::new();
            for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                let column = if name == Profile::Rumqttc.name() {
                    return Err(ColumnError::NotStoppable);
                } else if let Some(p) = Profile::from_name(name) {
                    Column::Builtin(p)
                } else if let Some(c) = clients.iter().find(|c| c.name == name) {
                    with_path(c)
                } else {
                    return Err(ColumnError::Unknown {
                        name: name.to_string(),
                        builtin: offered().iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
                        clients: clients.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
                    });
                };
                if column.transport() != transport {
                    return Err(ColumnError::Transport { name: name.to_string(), column: column.transport(), url: target.to_string(), target: transport });
                }
                if !out.iter().any(|c: &Column| c.name() == column.name()) {
                    out.push(column);
                }
            }
            out
        }
        None => {
            let mut out: Vec<Column> = match transport {
                Transport::Ws => DEFAULT_WS_PROFILES.iter().map(|p| Column::Builtin(*p)).collect(),
                Transport::Tcp => vec![Column::Builtin(Profile::Tcp)],
            };
            out.extend(clients.iter().filter(|c| c.transport == transport && c.service.is_none() && installed(c)).map(with_path));
            out
        }
    };
    if columns.is_empty() {
        return Err(ColumnError::Empty(target.to_string()));
    }
    Ok(columns)
}

/// What the command line asked, as written (the password already read).
#[derive(Debug, Clone, Default)]
pub struct Asked {
    /// The URL.
    pub url: String,
    /// `--columns`.
    pub columns: Option<Vec<String>>,
    /// `--hold`.
    pub hold: Option<String>,
    /// `--keepalive`.
    pub keepalives: Option<Vec<String>>,
    /// `--username`.
    pub username: String,
    /// From `MATRIX_PROBE_PASSWORD` or `--password-file`.
    pub password: String,
    /// `--ca`.
    pub ca: Option<std::path::PathBuf>,
    /// `--client-id-prefix`.
    pub client_id_prefix: String,
    /// `--topic-prefix`; a random one under [`DEFAULT_TOPIC_PREFIX`] without it.
    pub topic_prefix: Option<String>,
}

/// The durations when there is no matrix.toml to take them from.
pub const DEFAULT_TIMING: Timing = Timing {
    hold: DEFAULT_HOLD,
    keepalive: Duration::from_secs(60),
    late_pong: DEFAULT_LATE_PONG,
    setup_timeout: DEFAULT_SETUP_TIMEOUT,
    round_trip_timeout: DEFAULT_ROUND_TRIP_TIMEOUT,
};

/// What matrix.toml gives a probe when there is one: the bounds, the real clients and the
/// folder their commands run in; the built-in defaults and no client without it.
#[derive(Debug, Clone)]
pub struct FromFile {
    /// Set-up, round-trip and late-pong bounds (the hold and keepalives are the probe's own).
    pub timing: Timing,
    /// The command clients a probe can name.
    pub clients: Vec<CommandClient>,
    /// Where their commands run.
    pub workdir: std::path::PathBuf,
}

impl FromFile {
    /// From the file, or the defaults.
    pub fn of(file: Option<&crate::plan::MatrixFile>) -> FromFile {
        match file {
            Some(f) => FromFile {
                timing: f.timing,
                clients: command_clients(f),
                workdir: f.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new(".")).to_path_buf(),
            },
            None => FromFile { timing: DEFAULT_TIMING, clients: Vec::new(), workdir: ".".into() },
        }
    }
}

/// The command clients a probe can name: matrix.toml's columns that are programs (versions
/// resolved), then its clients without a version to fill in.
pub fn command_clients(file: &crate::plan::MatrixFile) -> Vec<CommandClient> {
    let mut out: Vec<CommandClient> = file.columns.iter().filter_map(|c| if let Column::Command(k) = c { Some(k.clone()) } else { None }).collect();
    for c in &file.clients {
        if !out.iter().any(|k| k.name == c.name) && !c.command.iter().any(|a| a.contains("{version}")) {
            out.push(c.clone());
        }
    }
    out
}

/// Checks and assembles what was asked: the URL, the columns (`installed` says which
/// command clients are there), the hold and keepalives, the prefixes.
pub fn build(asked: Asked, timing: Timing, clients: &[CommandClient], installed: impl Fn(&CommandClient) -> bool) -> Result<ProbeAsk, crate::probe::ProbeError> {
    use crate::probe::ProbeError;
    use crate::units::parse_duration;
    let target = Target::parse(&asked.url)?;
    let columns = pick_columns(&target, asked.columns.as_deref(), clients, installed)?;
    let mut timing = timing;
    timing.hold = match &asked.hold {
        Some(h) => parse_duration(h).map_err(|e| ProbeError::Asked(format!("--hold: {e}")))?,
        None => DEFAULT_HOLD,
    };
    if timing.hold.is_zero() {
        return Err(ProbeError::Asked("--hold: the hold must be more than zero".into()));
    }
    let keepalives = match &asked.keepalives {
        Some(list) => {
            let mut out = Vec::new();
            for k in list.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
                let d = parse_duration(k).map_err(|e| ProbeError::Asked(format!("--keepalive: {e}")))?;
                if d < Duration::from_secs(1) || d > Duration::from_secs(65_535) {
                    return Err(ProbeError::Asked(format!("--keepalive: {k} is not an MQTT keepalive (1 s to 65535 s)")));
                }
                if !out.contains(&d) {
                    out.push(d);
                }
            }
            if out.is_empty() {
                return Err(ProbeError::Asked("--keepalive: give at least one, as in --keepalive 30s,90s".into()));
            }
            out
        }
        None => DEFAULT_KEEPALIVES.to_vec(),
    };
    let topic_prefix = asked.topic_prefix.unwrap_or_else(|| format!("{DEFAULT_TOPIC_PREFIX}/{:08x}", rand::random::<u32>()));
    if topic_prefix.contains(['#', '+']) || topic_prefix.trim_matches('/').is_empty() {
        return Err(ProbeError::Asked(format!("--topic-prefix: {topic_prefix:?} must be a topic without wildcards")));
    }
    Ok(ProbeAsk {
        target,
        columns,
        keepalives,
        timing,
        username: asked.username,
        password: asked.password,
        client_id_prefix: asked.client_id_prefix,
        topic_prefix,
        ca: asked.ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, transport: Transport) -> CommandClient {
        CommandClient { transport, ..crate::client::command::builtin_command(Profile::Rfc6455, &timing()) }.named(name)
    }

    fn timing() -> Timing {
        DEFAULT_TIMING
    }

    trait Named {
        fn named(self, name: &str) -> Self;
    }
    impl Named for CommandClient {
        fn named(mut self, name: &str) -> Self {
            self.name = name.to_string();
            self
        }
    }

    #[test]
    fn a_websocket_url_gets_the_three_telling_profiles_and_the_installed_clients_with_its_path() {
        let t = Target::parse("ws://127.0.0.1:9001/mqtt").expect("url");
        let clients = [client("paho-c", Transport::Ws), client("absent", Transport::Ws), client("tcp-only", Transport::Tcp)];
        let cols = pick_columns(&t, None, &clients, |c| c.name != "absent").expect("columns");
        let names: Vec<&str> = cols.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["rfc6455", "no-pong", "paho-java-1.2.5", "paho-c"]);
        assert_eq!(cols[3].path(), "/mqtt");
    }

    #[test]
    fn a_tcp_url_gets_the_tcp_column_and_refuses_a_websocket_one() {
        let t = Target::parse("mqtt://127.0.0.1:1883").expect("url");
        let names: Vec<String> = pick_columns(&t, None, &[], |_| true).expect("columns").iter().map(|c| c.name().to_string()).collect();
        assert_eq!(names, ["tcp"]);
        let e = pick_columns(&t, Some(&["rfc6455".into()]), &[], |_| true).expect_err("a ws column on a tcp url");
        assert!(e.to_string().contains("rfc6455 speaks ws"), "{e}");
        assert_eq!(pick_columns(&t, Some(&["rumqttc".into()]), &[], |_| true), Err(ColumnError::NotStoppable));
    }

    #[test]
    fn every_session_has_its_own_client_id_and_topic_under_the_prefixes() {
        let t = Target::parse("ws://h/mqtt").expect("url");
        let ask = ProbeAsk {
            target: t,
            columns: vec![Column::Builtin(Profile::Rfc6455), Column::Builtin(Profile::NoPong)],
            keepalives: vec![Duration::from_secs(30), Duration::from_secs(90)],
            timing: timing(),
            username: "u".into(),
            password: "secret".into(),
            client_id_prefix: "mm-probe-".into(),
            topic_prefix: "mosquitto-matrix/probe/abc/".into(),
            ca: None,
        };
        let s = ask.sessions(0x1234);
        assert_eq!(s.len(), 4);
        let keys: Vec<&str> = s.iter().map(|x| x.key.as_str()).collect();
        assert_eq!(keys, ["rfc6455 ka=30s", "rfc6455 ka=90s", "no-pong ka=30s", "no-pong ka=90s"]);
        let mut ids: Vec<&str> = s.iter().map(|x| x.client_id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 4);
        assert!(s.iter().all(|x| x.client_id.starts_with("mm-probe-") && x.topic == format!("mosquitto-matrix/probe/abc/{}", x.client_id)));
        let line = ask.announce();
        assert!(line.contains("4 session(s)") && !line.contains("secret"), "{line}");
    }
}
