//! Before any session holds: one short session of the same core, whose end says whether the
//! probe can run at all. Pure: its record in, one clear line out (or nothing: go on).
//!
//! DNS and connection failures, TLS refusals (an unknown CA, a name mismatch), an upgrade
//! answered with anything but 101 (quoted), a wrong subprotocol, a refused CONNACK (with its
//! code), and the typical answers of a TLS port to a plain client each get one line that says
//! what to change.

use crate::judge::record::{End, SessionRecord, SocketEnd};
use crate::probe::target::Target;
use crate::wire::mqtt::connack_reason;

/// What to tell a user whose plain client met a TLS port.
fn tls_hint(target: &Target) -> &'static str {
    if target.scheme.tls() {
        ""
    } else {
        " (a TLS port answers a plain client this way: try wss:// or mqtts://)"
    }
}

/// Why the probe cannot run against `target`, from its first session's record; `None` when
/// that session was accepted (whatever came after).
pub fn refusal(target: &Target, record: &SessionRecord) -> Option<String> {
    if record.connected {
        return None;
    }
    let at = target.to_string();
    Some(match &record.end {
        End::HarnessError { detail } if detail.contains("failed to lookup address") || detail.contains("Name or service not known") => {
            format!("{at}: the host name {:?} does not resolve: {detail}", target.host)
        }
        End::HarnessError { detail } if detail.contains("Connection refused") => {
            format!("{at}: connection refused: nothing listens on {}", target.authority())
        }
        End::HarnessError { detail } if detail.contains("TLS handshake") => {
            let hint = if detail.contains("UnknownIssuer") || detail.contains("not trusted") {
                "; give the CA that signed the endpoint's certificate with --ca FILE"
            } else if detail.contains("NotValidForName") {
                "; the certificate does not name this host: connect by a name it holds"
            } else {
                ""
            };
            format!("{at}: TLS failed: {detail}{hint}")
        }
        End::HarnessError { detail } => format!("{at}: {detail}"),
        End::UpgradeRefused { detail } if detail.contains("malformed HTTP response") => {
            format!("{at}: the endpoint did not answer the WebSocket upgrade in HTTP ({detail}){}", tls_hint(target))
        }
        End::UpgradeRefused { detail } => format!("{at}: {detail} (check the path: {})", target.path),
        End::SocketEnded { how, .. } => {
            let how = match how {
                SocketEnd::Eof => "a FIN".to_string(),
                SocketEnd::Reset => "a reset".to_string(),
                SocketEnd::Error(e) => e.clone(),
            };
            format!("{at}: the endpoint ended the connection before the session began ({how}){}", tls_hint(target))
        }
        End::BadBytes { detail, .. } => format!("{at}: the endpoint answered with bytes that are not MQTT ({detail}){}", tls_hint(target)),
        End::ConnAckRefused { code } => {
            let what = connack_reason(*code);
            let check = if matches!(code, 4 | 5 | 0x86 | 0x87) { ": check --username and the password (MATRIX_PROBE_PASSWORD or --password-file)" } else { "" };
            format!("{at}: the broker refused the CONNECT with CONNACK {code} ({what}){check}")
        }
        End::BrokerClosed { code, reason, .. } => format!("{at}: the endpoint closed the WebSocket before CONNACK (close {code:?} {reason:?})"),
        End::BrokerDisconnected { reason, .. } => format!("{at}: the broker sent DISCONNECT 0x{reason:02X} before CONNACK"),
        other => format!("{at}: the session did not start: {other:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Profile;
    use std::time::Duration;

    fn ended(end: End) -> SessionRecord {
        let mut r = SessionRecord::new(Profile::Rfc6455, Duration::from_secs(1), Duration::from_secs(1), "c");
        r.end = end;
        r
    }

    fn target(url: &str) -> Target {
        Target::parse(url).expect("a URL")
    }

    #[test]
    fn a_404_is_quoted_with_the_path() {
        let line = refusal(&target("ws://127.0.0.1:9/nope"), &ended(End::UpgradeRefused { detail: "WebSocket upgrade refused: HTTP 404 Not Found".into() }));
        assert_eq!(line.as_deref(), Some("ws://127.0.0.1:9/nope: WebSocket upgrade refused: HTTP 404 Not Found (check the path: /nope)"));
    }

    #[test]
    fn a_refused_connack_names_the_code_and_the_credentials() {
        let line = refusal(&target("mqtt://127.0.0.1:9"), &ended(End::ConnAckRefused { code: 5 })).expect("a line");
        assert!(line.contains("CONNACK 5 (not authorized)"), "{line}");
        assert!(line.contains("MATRIX_PROBE_PASSWORD"), "{line}");
    }

    #[test]
    fn an_unknown_ca_says_to_give_one_and_a_plain_client_on_a_tls_port_says_to_try_wss() {
        let line = refusal(&target("wss://127.0.0.1:9/mqtt"), &ended(End::HarnessError { detail: "TLS handshake refused: the server's certificate is not trusted (UnknownIssuer) (at 127.0.0.1:9)".into() })).expect("a line");
        assert!(line.ends_with("--ca FILE"), "{line}");
        let line = refusal(&target("ws://127.0.0.1:9/mqtt"), &ended(End::SocketEnded { at: Duration::ZERO, how: SocketEnd::Eof })).expect("a line");
        assert!(line.contains("try wss://"), "{line}");
    }

    #[test]
    fn an_accepted_session_is_no_refusal() {
        let mut r = ended(End::SocketEnded { at: Duration::from_secs(1), how: SocketEnd::Eof });
        r.connected = true;
        assert_eq!(refusal(&target("ws://h/mqtt"), &r), None);
    }
}
