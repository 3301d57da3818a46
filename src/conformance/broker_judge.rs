//! A broker cell's kind, from its answer in words ([`super::brokers::describe`]) and the case's
//! clause: pure, as [`super::judge`] is for client cells. The words stay the evidence; the kind
//! colours the cell and counts in the tag's summary line.

use crate::conformance::brokers::TagRow;
use crate::conformance::judge::Kind;
use crate::conformance::source::Source;

/// A broker's way of refusing an upgrade without an HTTP status: its words in a cell.
const CLOSED_UNANSWERED: &str = "read the answer to the upgrade: the broker closed the connection";

/// How a broker met a case, and why in words.
pub fn judge_answer(case: &str, words: &str) -> (Kind, &'static str) {
    if words.starts_with("could not play") && !words.contains(CLOSED_UNANSWERED) || words.starts_with("the broker did not start") {
        return (Kind::Error, "the harness could not play the case");
    }
    let closes = words.starts_with("close") || words.contains(", close") || words.ends_with("FIN") || words.contains("broken");
    match case {
        "text-frame" if closes => (Kind::Ok, "closed on the text frame"),
        "text-frame" => (Kind::NonStrict, "took MQTT from a text frame, which MQTT §6 says it must close on"),
        "split-connect" if words.contains("CONNACK 0") => (Kind::Ok, "read the CONNECT across frames"),
        "split-connect" => (Kind::Dropped, "did not read a CONNECT split over frames (Mosquitto #1974)"),
        "packets-in-one-frame" if words.contains("CONNACK 0") && words.contains("PINGRESP") => (Kind::Ok, "read both packets of the frame"),
        "packets-in-one-frame" => (Kind::Dropped, "did not read two packets in one frame"),
        "ping-payload" if words.starts_with("PONG 125 bytes") => (Kind::Ok, "echoed the 125 bytes in its PONG"),
        "ping-payload" if words.starts_with("PONG") => (Kind::NonStrict, "answered, but its PONG does not carry the PING's 125 bytes"),
        "ping-payload" => (Kind::Dropped, "did not answer the PING"),
        "unsolicited-pong" if words == "PINGRESP" => (Kind::Ok, "ignored the PONG and answered the PINGREQ"),
        "unsolicited-pong" if words.contains("PINGRESP") => (Kind::NonStrict, "answered the PINGREQ, but answered the PONG too"),
        "unsolicited-pong" => (Kind::Dropped, "did not carry on after an unsolicited PONG"),
        "reserved-opcode" | "unmasked" | "control-126" if words.starts_with("close 1002") => (Kind::Ok, "failed the connection with 1002"),
        "reserved-opcode" | "unmasked" | "control-126" if closes => (Kind::NonStrict, "ended the connection, but not with close 1002"),
        "reserved-opcode" | "unmasked" | "control-126" => (Kind::NonStrict, "carried on after a frame RFC 6455 says it must fail the connection on"),
        "length-64" if words == "PINGRESP" => (Kind::Ok, "read the frame with a 64-bit length"),
        "length-64" => (Kind::Dropped, "did not read a frame with a 64-bit length"),
        "close" if words.starts_with("close 1000") => (Kind::Ok, "echoed the close with 1000"),
        "close" if words.starts_with("close") => (Kind::NonStrict, "echoed the close with another code"),
        "close" => (Kind::NonStrict, "did not echo the close frame"),
        "subprotocol-mqtt" if words == "101 mqtt" => (Kind::Ok, "chose mqtt"),
        "subprotocol-mqttv3.1" if words == "101 mqttv3.1" => (Kind::Ok, "chose mqttv3.1"),
        "subprotocol-none" if words == "101 (no subprotocol)" => (Kind::Ok, "upgraded without a subprotocol"),
        "subprotocol-none" if words.starts_with("4") => (Kind::Ok, "refused the upgrade with an HTTP error"),
        "subprotocol-mqtt" | "subprotocol-mqttv3.1" | "subprotocol-none" => {
            (Kind::NonStrict, "did not upgrade as asked, nor refused with an HTTP status (RFC 6455 §4.2.2)")
        }
        _ => (Kind::Error, "not a broker case"),
    }
}

/// How a cell is judged given where its answer comes from: a cell neither measured nor derived
/// has no answer to judge (n/a); every other one is judged by its words.
pub fn judge_cell(case: &str, words: &str, source: &Source) -> (Kind, &'static str) {
    match source {
        Source::NotDerived { .. } => (Kind::NotApplicable, "neither measured nor derived"),
        _ => judge_answer(case, words),
    }
}

/// One line per tag: `bookworm fails 3 of 13 cases: text-frame, unmasked, control-126`; with
/// how many answers are derived and not measured, or, measured against derived answers, in
/// which cases those held and in which not.
pub fn tag_summary(row: &TagRow) -> String {
    let judged: Vec<(&str, Kind, &Source)> =
        row.cells.iter().enumerate().map(|(i, (case, words))| (*case, judge_cell(case, words, row.source(i)).0, row.source(i))).collect();
    let run = judged.iter().filter(|(_, k, _)| *k != Kind::NotApplicable).count();
    let failed: Vec<&str> = judged.iter().filter(|(_, k, _)| k.fails()).map(|(case, ..)| *case).collect();
    let mut line = if failed.is_empty() {
        format!("{} passes all {run} cases", row.tag)
    } else {
        format!("{} fails {} of {run} cases: {}", row.tag, failed.len(), failed.join(", "))
    };
    let count = |f: fn(&Source) -> bool| judged.iter().filter(|(_, _, s)| f(s)).count();
    let (derived, not_derived) = (count(|s| matches!(s, Source::Derived { .. })), count(|s| matches!(s, Source::NotDerived { .. })));
    match (derived, not_derived) {
        (0, 0) => {}
        (d, 0) => line.push_str(&format!(" ({d} derived, not measured)")),
        (0, n) => line.push_str(&format!(" ({n} neither measured nor derived)")),
        (d, n) => line.push_str(&format!(" ({d} derived, not measured; {n} not derived)")),
    }
    let held = count(|s| matches!(s, Source::Held { .. }));
    let not_held: Vec<&str> = judged.iter().filter(|(_, _, s)| matches!(s, Source::NotHeld { .. })).map(|(case, ..)| *case).collect();
    if held + not_held.len() > 0 {
        line.push_str(&format!("; derived answers held in {held} of {} cases", held + not_held.len()));
        if !not_held.is_empty() {
            line.push_str(&format!(", not in: {}", not_held.join(", ")));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookworms_measured_answers_are_judged_as_the_clauses_say() {
        assert_eq!(judge_answer("text-frame", "PINGRESP").0, Kind::NonStrict);
        assert_eq!(judge_answer("text-frame", "close 1003").0, Kind::Ok);
        assert_eq!(judge_answer("reserved-opcode", "close 1002 \"bad opc\"").0, Kind::Ok);
        assert_eq!(judge_answer("control-126", "FIN").0, Kind::NonStrict);
        assert_eq!(judge_answer("unmasked", "PINGRESP").0, Kind::NonStrict);
        assert_eq!(judge_answer("close", "nothing in 2 s").0, Kind::NonStrict);
        assert_eq!(judge_answer("ping-payload", "PONG 125 bytes").0, Kind::Ok);
        assert_eq!(judge_answer("packets-in-one-frame", "CONNACK 0, PINGRESP").0, Kind::Ok);
        assert_eq!(judge_answer("subprotocol-none", "could not play: read the answer to the upgrade: the broker closed the connection").0, Kind::NonStrict);
    }

    #[test]
    fn a_case_the_harness_could_not_play_is_an_error_not_the_brokers_fault() {
        assert_eq!(judge_answer("close", "could not play: connect: nothing within 2 s").0, Kind::Error);
        assert_eq!(judge_answer("close", "the broker did not start: no image").0, Kind::Error);
    }

    #[test]
    fn a_tags_summary_names_the_cases_it_fails() {
        let row = TagRow { tag: "bookworm".into(), cells: vec![("text-frame", "PINGRESP".into()), ("length-64", "PINGRESP".into())], sources: Vec::new() };
        assert_eq!(tag_summary(&row), "bookworm fails 1 of 2 cases: text-frame");
    }

    #[test]
    fn a_tags_summary_says_what_is_derived_and_which_derived_answers_held() {
        let derived = |basis: &str| Source::Derived { basis: basis.into() };
        let cells = vec![("text-frame", "PINGRESP".into()), ("length-64", "PINGRESP".into()), ("close", "not derived".into())];
        let row = TagRow { tag: "2.0.12".into(), cells: cells.clone(), sources: vec![derived("b"), derived("b"), Source::NotDerived { why: "w".into() }] };
        assert_eq!(tag_summary(&row), "2.0.12 fails 1 of 2 cases: text-frame (2 derived, not measured; 1 not derived)");
        let held = Source::Held { basis: "b".into() };
        let row = TagRow { tag: "2.0.12".into(), cells, sources: vec![held.clone(), held, Source::NotHeld { derived: "close 1000".into(), basis: "b".into() }] };
        assert_eq!(tag_summary(&row), "2.0.12 fails 2 of 3 cases: text-frame, close; derived answers held in 2 of 3 cases, not in: close");
    }
}
