//! The probe's answer in words: what was seen, with its evidence, which known hops a measured
//! limit points at, what to do, and what stays unknown. Pure: [`Findings`] in, text out.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::probe::analysis::{Findings, HangUpFinding, LimitFinding, PingFinding};
use crate::probe::hops::{self, Hop, LimitKind};
use crate::plan::{FIVE_MINUTE_MARK, LWS_PONG_WINDOW};
use crate::probe::target::Target;

/// libwebsockets 4.x pings this long after the upgrade (Mosquitto 1.6.15+, 2.0.11+).
const LWS_PING: Duration = FIVE_MINUTE_MARK;

/// The answer, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The endpoint, as shown.
    pub endpoint: String,
    /// `$SYS/broker/version`, when the broker let a client read it.
    pub broker_version: Option<String>,
    /// What was seen, one finding a line, with its evidence.
    pub seen: Vec<String>,
    /// The known hops a limit points at.
    pub hops: Vec<String>,
    /// What to do.
    pub todo: Vec<String>,
    /// What the probe could not see.
    pub unknown: Vec<String>,
}

/// A time in whole seconds, as limits are quoted ("60 s"); the reports keep the tenths.
fn s(d: Duration) -> String {
    format!("{:.0} s", d.as_secs_f64())
}

fn near(a: Duration, b: Duration, slack: Duration) -> bool {
    a.abs_diff(b) <= slack
}

/// A limit's kind as the answer says it.
fn kind_word(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::Idle => "idle",
        LimitKind::Lifetime => "lifetime",
    }
}

fn hop_line(h: &Hop) -> String {
    let what = kind_word(h.kind);
    let checked = if h.checked { "" } else { " (figure not checked against the vendor's page)" };
    let measured = h.measured.as_deref().map(|m| format!("; measured: {m}")).unwrap_or_default();
    format!("{} — {} {} s {what} by default{checked}; fix: {}. Source: {}{measured}", h.name, h.setting, h.seconds, h.fix, h.source)
}

/// Builds the answer: each finding in turn, worded.
pub fn answer(endpoint: &Target, broker_version: Option<String>, f: &Findings, known: &[Hop]) -> Answer {
    let mut a = Answer { endpoint: endpoint.to_string(), broker_version, seen: Vec::new(), hops: Vec::new(), todo: Vec::new(), unknown: Vec::new() };
    if endpoint.scheme.tls() && !f.ends.is_empty() {
        // rustls reads a FIN without close_notify and one after it alike, as the end of the stream.
        a.unknown.push("Whether the endpoint ends TLS cleanly (close_notify before its FIN): the sessions' records do not tell.".to_string());
    }
    // Over TCP there is no WebSocket to ping.
    if endpoint.scheme.transport() == crate::plan::Transport::Ws {
        a.ping(f);
        a.hang_up(f);
    }
    a.limit(f);
    for (how, keys) in &f.ends {
        a.seen.push(format!("The endpoint ended {} with {}.", keys.join(", "), how.words()));
    }
    a.known_hops(f, known);
    for (key, why) in &f.errors {
        a.unknown.push(format!("{key} could not run: {why}"));
    }
    a
}

impl Answer {
    /// Whether and when a WebSocket PING came, and what a client that cannot take one does.
    fn ping(&mut self, f: &Findings) {
        match &f.ping {
            PingFinding::At { first, sessions } => {
                let lws = if near(*first, LWS_PING, Duration::from_secs(3)) {
                    ": libwebsockets 4.x behind the endpoint (Mosquitto 1.6.15+ or 2.0.11+ with its built-in WebSocket), which pings 300 s after the upgrade"
                } else {
                    ""
                };
                self.seen.push(format!("A WebSocket PING arrives {} after the upgrade (on {sessions} session(s)){lws}.", s(*first)));
                if let Some((key, cause)) = f.client_ended.iter().find(|(k, _)| k.starts_with("paho-java-1.2.5")) {
                    self.seen.push(format!("{key} dropped at it, as Paho Java 1.2.5 does: {cause}."));
                    self.todo.push(
                        "Clients that cannot take a WebSocket PING drop at it (every Eclipse Paho Java version with WebSocket, up to \
                         1.2.5, rejects opcode 0x9): use MQTT over TCP for them, another client library, or a broker whose \
                         WebSocket listener does not ping (Mosquitto 2.1's own WebSocket does not)."
                            .to_string(),
                    );
                }
            }
            PingFinding::None { longest } => self.seen.push(format!("No WebSocket PING in {} (the longest WebSocket session).", s(*longest))),
            PingFinding::Unknown { longest: Some(l) } => {
                self.unknown.push(format!("Whether a WebSocket PING comes: no WebSocket session lived past 300 s (the longest: {}); probe with --hold 330s or more.", s(*l)))
            }
            PingFinding::Unknown { longest: None } => self.unknown.push("Whether a WebSocket PING comes: no WebSocket session ran.".to_string()),
        }
    }

    /// What followed a PING nobody answered.
    fn hang_up(&mut self, f: &Findings) {
        match &f.hang_up {
            HangUpFinding::After { after, ping, how, key } => {
                let lws = if near(*after, LWS_PONG_WINDOW, Duration::from_secs(2)) { " (libwebsockets' 10 s)" } else { "" };
                self.seen.push(format!("An unanswered PING is followed by a hang-up {} later{lws}: {key} got the PING at {} and the endpoint ended it at {} with {}.", s(*after), s(*ping), s(*ping + *after), how.words()));
                self.todo.push(format!("Every client must answer a WebSocket PING with a PONG within {} (RFC 6455 §5.5.2); most libraries do it by themselves.", s(*after)));
            }
            HangUpFinding::Stayed { waited, key } => self.seen.push(format!("An unanswered PING is not followed by a hang-up: {key} stayed {} after it without answering.", s(*waited))),
            HangUpFinding::Unknown => self.unknown.push("What follows an unanswered PING: no session left a PING unanswered (no PING came, or no-pong did not run).".to_string()),
        }
    }

    /// Whether a timer of the endpoint ends sessions, which kind, and what to do about it.
    fn limit(&mut self, f: &Findings) {
        match &f.limit {
            LimitFinding::None if f.held.is_empty() => self.unknown.push("Whether a timer ends sessions: no session held long enough to tell.".to_string()),
            LimitFinding::None => self.seen.push(format!("No session was ended by a timer of the endpoint; {} held the whole hold.", f.held.join(", "))),
            LimitFinding::Idle { limit, ended, outlived } => {
                let evidence = if outlived.is_empty() { String::new() } else { format!("; {} with traffic more often lived past it", outlived.join(", ")) };
                self.seen.push(format!("The endpoint ends a session silent for {}: {} ended after {} without traffic{evidence}.", s(*limit), ended.join(", "), s(*limit)));
                self.todo.push(format!(
                    "Keep every client's MQTT keepalive below {} (half of it leaves room), or raise the limit of the hop that has it.",
                    s(*limit)
                ));
            }
            LimitFinding::Lifetime { limit, ended, busy } => {
                let evidence = if busy.is_empty() { String::new() } else { format!(", although {} had traffic just before", busy.join(", ")) };
                self.seen.push(format!("The endpoint ends every session {} old whatever its traffic: {} ended at {}{evidence}.", s(*limit), ended.join(", "), s(*limit)));
                self.todo.push(format!(
                    "No keepalive helps against a session lifetime: raise the timeout of the hop that has it above the longest session you want, and make clients reconnect; {} is when they drop now.",
                    s(*limit)
                ));
            }
            LimitFinding::Either { age, silence, ended } => {
                self.seen.push(format!("{} ended {} after the start, silent for {}.", ended.join(", "), s(*age), s(*silence)));
                self.unknown.push(format!(
                    "Whether that is an idle limit or a session lifetime: no session with traffic more often than every {} ran; probe again with a keepalive below it (--keepalive {}s,{}s).",
                    s(*silence),
                    (silence.as_secs() / 2).max(1),
                    silence.as_secs() + 30
                ));
            }
            LimitFinding::Mixed { ended } => {
                let list: Vec<String> = ended.iter().map(|(k, age, quiet)| format!("{k} at {} (silent {})", s(*age), s(*quiet))).collect();
                self.seen.push(format!("Sessions ended at times no single timer explains: {}.", list.join("; ")));
            }
        }
    }

    /// The known hops whose default matches a measured limit.
    fn known_hops(&mut self, f: &Findings, known: &[Hop]) {
        if let Some((kind, limit)) = f.limit.named() {
            let found = hops::candidates(known, kind, limit);
            if found.is_empty() {
                self.hops.push(format!("No hop in the table (probe-hops.toml) has a default {} limit of {}; look for a timeout of about {} on each hop.", kind_word(kind), s(limit), s(limit)));
            } else {
                self.hops.extend(found.into_iter().map(hop_line));
            }
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let version = self.broker_version.as_deref().map(|v| format!(" ({v})")).unwrap_or_default();
        let _ = writeln!(out, "What {}{version} does:", self.endpoint);
        for line in &self.seen {
            let _ = writeln!(out, "  - {line}");
        }
        if !self.hops.is_empty() {
            let _ = writeln!(out, "Known hops with that limit:");
            for line in &self.hops {
                let _ = writeln!(out, "  - {line}");
            }
        }
        if !self.todo.is_empty() {
            let _ = writeln!(out, "What to do:");
            for line in &self.todo {
                let _ = writeln!(out, "  - {line}");
            }
        }
        if !self.unknown.is_empty() {
            let _ = writeln!(out, "Not seen (unknown, not fine):");
            for line in &self.unknown {
                let _ = writeln!(out, "  - {line}");
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::analysis::tests::seen;
    use crate::probe::analysis::{analyse, EndHow};

    fn t(url: &str) -> Target {
        Target::parse(url).expect("a URL")
    }

    #[test]
    fn behind_nginx_the_answer_names_the_60_s_idle_limit_nginx_and_the_keepalive_fix() {
        let f = analyse(&[seen("rfc6455", 30, 100, None, &[]), seen("rfc6455", 90, 100, Some((60.02, EndHow::Fin)), &[])]);
        let text = answer(&t("ws://127.0.0.1:1/mqtt"), None, &f, &hops::known()).to_string();
        assert!(text.contains("ends a session silent for 60 s"), "{text}");
        assert!(text.contains("nginx — proxy_read_timeout 60 s idle"), "{text}");
        assert!(text.contains("keepalive below 60 s"), "{text}");
        assert!(text.contains("Whether a WebSocket PING comes"), "a 100 s hold leaves the PING unknown:\n{text}");
    }

    #[test]
    fn a_fixed_age_is_said_as_a_lifetime_with_google_clouds_load_balancer_at_30_s() {
        let f = analyse(&[seen("rfc6455", 10, 100, Some((30.2, EndHow::Fin)), &[]), seen("rfc6455", 90, 100, Some((30.0, EndHow::Fin)), &[])]);
        let text = answer(&t("wss://x/mqtt"), Some("mosquitto version 2.0.11".into()), &f, &hops::known()).to_string();
        assert!(text.contains("ends every session 30 s old whatever its traffic"), "{text}");
        assert!(text.contains("Google Cloud"), "{text}");
        assert!(text.contains("No keepalive helps"), "{text}");
        assert!(text.starts_with("What wss://x/mqtt (mosquitto version 2.0.11) does:"), "{text}");
        assert!(text.contains("ends TLS cleanly"), "on TLS the close_notify is named unknown:\n{text}");
    }

    #[test]
    fn the_lws_ping_and_hang_up_are_named_with_the_paho_java_advice() {
        let mut paho = seen("paho-java-1.2.5", 60, 330, Some((300.0, EndHow::Fin)), &[300]);
        paho.ended_by_endpoint = None;
        paho.cause = "paho-java-1.2.5 gave up on a PING".into();
        let f = analyse(&[seen("rfc6455", 60, 330, None, &[300]), seen("no-pong", 60, 330, Some((310.0, EndHow::Fin)), &[300]), paho]);
        let text = answer(&t("ws://h/mqtt"), None, &f, &hops::known()).to_string();
        assert!(text.contains("PING arrives 300 s after the upgrade"), "{text}");
        assert!(text.contains("libwebsockets 4.x"), "{text}");
        assert!(text.contains("hang-up 10 s later (libwebsockets' 10 s)"), "{text}");
        assert!(text.contains("Paho Java 1.2.5"), "{text}");
    }

    #[test]
    fn over_tcp_the_answer_asks_nothing_about_websocket_pings() {
        let mut tcp = seen("tcp", 60, 330, None, &[]);
        tcp.transport = crate::plan::Transport::Tcp;
        let text = answer(&t("mqtt://h"), None, &analyse(&[tcp]), &hops::known()).to_string();
        assert!(!text.contains("PING"), "{text}");
        assert!(text.contains("tcp ka=60s held the whole hold"), "{text}");
    }
}
