//! Every client profile against every broker behaviour, without Docker: the scripted peer
//! plays the broker, and each cell goes through `session::run` + `verdict::decide`, the
//! same path as the real matrix. Times are in units of [`UNIT`] ("300 s" is 15 units here).
//!
//! All cells run once, concurrently, on one runtime (the first case to need a result starts
//! them); each rstest case then checks its own cells. Sessions hold for about a second, so
//! running them one test thread at a time would take minutes on a small machine.
//!
//! `SHOW_CELLS=1 cargo test --test profiles -- --nocapture` prints every cell: verdict, the
//! session's record and what the peer saw on the wire.
//!
//! Rows whose name starts with `rumqttc_` hold the rumqttc profile to what is true on the
//! wire; where the library hides a frame, they ask only that the cause line claims nothing
//! it cannot know.

mod support;

use std::sync::OnceLock;

use mosquitto_matrix::plan::Profile::{self, *};
use mosquitto_matrix::judge::record::Party::{Broker, Client};
use rstest::rstest;

use support::peer::{Behaviour, PING_PAYLOAD};
use support::{closed, eof, ok, refused, timeout, timing, Cell, Expect, Wire, UNIT};

/// The frame-level WebSocket profiles: the session module plays them.
const WS_FRAME: &[Profile] = &[PahoJava125, Rfc6455, NoPong, CloseOnPing, UnmaskedPong, LatePong, Fragmented];

/// The frame-level WebSocket profiles that read any data frame, fragmented or not.
const WS_FRAME_BUT_PAHO: &[Profile] = &[Rfc6455, NoPong, CloseOnPing, UnmaskedPong, LatePong, Fragmented];


/// The rows of the matrix: `case name: profiles, behaviour => expected verdict;`. Each row is
/// one rstest case, and together they are the `COVERED` list the coverage test checks.
macro_rules! matrix {
    ($($name:ident: $profiles:expr, $behaviour:expr => $expect:expr;)+) => {
        /// Every (profiles, behaviour) row of the cases.
        const COVERED: &[(&[Profile], Behaviour)] = &[$(($profiles, $behaviour)),+];

        #[rstest]
        $(#[case::$name($profiles, $behaviour, $expect)])+
        fn the_session_ends_as_the_matrix_says(
            #[case] profiles: &[Profile],
            #[case] behaviour: Behaviour,
            #[case] expect: Expect,
        ) {
            check(profiles, behaviour, &expect);
        }
    };
}

matrix! {
    // libwebsockets 4: the PING at the 5-minute mark (15 units), the hang-up 10 s later (+10).
    paho_java_rejects_the_lws4_ping_and_writes_the_ascii_close_payload_1000: &[PahoJava125], Behaviour::LWS4
        => eof(15, Client)
            .cause("broker sent WebSocket PING at ")
            .cause("; paho-java-1.2.5 rejects opcode 0x9 and drops the connection")
            .wire(Wire::ClientClose(b"1000"))
            .wire(Wire::NoPongs);
    paho_java_rejects_the_ping_of_a_strict_lws4_just_the_same: &[PahoJava125], Behaviour::LWS4_STRICT
        => eof(15, Client).cause("paho-java-1.2.5 rejects opcode 0x9").wire(Wire::ClientClose(b"1000"));
    rfc6455_and_fragmented_answer_both_lws4_pings_and_are_ok: &[Rfc6455, Fragmented], Behaviour::LWS4
        => ok()
            .cause("2 PING(s) from the broker, the first at 0.3 s, 2 PONG(s) sent")
            .wire(Wire::PingsSent(2))
            .wire(Wire::Pongs { masked: true, payload: b"" });
    rfc6455_and_fragmented_masked_pongs_satisfy_a_strict_lws4: &[Rfc6455, Fragmented], Behaviour::LWS4_STRICT
        => ok().cause("2 PONG(s) sent").wire(Wire::Pongs { masked: true, payload: b"" });
    no_pong_is_hung_up_on_by_lws4_ten_units_after_the_ping: &[NoPong], Behaviour::LWS4
        => eof(25, Broker)
            .cause("broker ended the connection without a close frame at ")
            .cause("after an unanswered PING at 0.3 s")
            .wire(Wire::NoPongs)
            .wire(Wire::NoClientClose);
    no_pong_is_hung_up_on_by_a_strict_lws4_the_same_way: &[NoPong], Behaviour::LWS4_STRICT
        => eof(25, Broker).cause("after an unanswered PING at 0.3 s");
    late_pong_is_hung_up_on_before_its_pong_at_fifteen_units: &[LatePong], Behaviour::LWS4
        => eof(25, Broker).cause("after an unanswered PING at 0.3 s").wire(Wire::NoPongs);
    late_pong_is_hung_up_on_by_a_strict_lws4_the_same_way: &[LatePong], Behaviour::LWS4_STRICT
        => eof(25, Broker).cause("after an unanswered PING at 0.3 s");
    close_on_ping_ends_the_session_itself_at_the_lws4_ping: &[CloseOnPing], Behaviour::LWS4
        => eof(15, Client)
            .cause("broker sent WebSocket PING at 0.3 s; close-on-ping answers it with a close frame and ends the session")
            .wire(Wire::ClientCloseCode(1000));
    close_on_ping_ends_the_session_itself_at_a_strict_lws4_ping: &[CloseOnPing], Behaviour::LWS4_STRICT
        => eof(15, Client).wire(Wire::ClientCloseCode(1000));
    unmasked_pong_is_accepted_by_lws4_as_libwebsockets_does: &[UnmaskedPong], Behaviour::LWS4
        => ok().cause("2 PONG(s) sent, unmasked, and the broker accepted them").wire(Wire::Pongs { masked: false, payload: b"" });
    unmasked_pong_is_dropped_by_a_strict_server_at_its_first_pong: &[UnmaskedPong], Behaviour::LWS4_STRICT
        => eof(15, Broker)
            .cause("broker ended the connection without a close frame")
            .cause("after a PING at 0.3 s that was answered with an unmasked PONG")
            .wire(Wire::Pongs { masked: false, payload: b"" });
    // rumqttc (through tungstenite) answers every PING, but shows no frame to the session: the
    // cause must not say that no PING was seen.
    rumqttc_answers_lws4_pings_through_tungstenite_and_is_ok: &[Rumqttc], Behaviour::LWS4
        => ok().cause_lacks("no WebSocket PING seen").wire(Wire::Pongs { masked: true, payload: b"" });
    rumqttc_masked_pongs_satisfy_a_strict_lws4: &[Rumqttc], Behaviour::LWS4_STRICT
        => ok().cause_lacks("no WebSocket PING seen").wire(Wire::Pongs { masked: true, payload: b"" });

    // libwebsockets 2.x and Mosquitto 2.1's own WebSocket code: no pings at all.
    every_frame_level_profile_survives_a_broker_that_never_pings: WS_FRAME, Behaviour::NO_PINGS
        => ok().cause("no WebSocket PING seen").wire(Wire::PingsSent(0));
    rumqttc_survives_a_broker_that_never_pings_and_claims_no_frames_it_cannot_see: &[Rumqttc], Behaviour::NO_PINGS
        => ok().cause("not visible").wire(Wire::PingsSent(0));
    tcp_survives_a_broker_that_never_pings: &[Tcp], Behaviour::NO_PINGS
        => ok().cause("MQTT over TCP: no WebSocket frames");

    // Close frames: every profile reads opcode 0x8, Paho Java included.
    a_close_1000_is_closed_with_code_1000_and_echoed: WS_FRAME, Behaviour::CLOSE_1000
        => closed(10, 1000).cause("broker sent WebSocket close 1000 \"\" at 0.2 s").wire(Wire::ClientCloseCode(1000));
    a_close_1001_going_away_is_closed_with_code_1001_and_echoed: WS_FRAME, Behaviour::CLOSE_1001
        => closed(10, 1001).cause("broker sent WebSocket close 1001 \"going away\" at 0.2 s").wire(Wire::ClientCloseCode(1001));
    // rumqttc completes the closing handshake inside the library and reports only the end of
    // the stream: an EOF, but not one "without a close frame".
    rumqttc_reports_a_close_1000_as_an_eof_without_denying_the_close_frame: &[Rumqttc], Behaviour::CLOSE_1000
        => eof(10, Broker).cause_lacks("without a close frame").wire(Wire::ClientCloseCode(1000));
    rumqttc_reports_a_close_1001_as_an_eof_without_denying_the_close_frame: &[Rumqttc], Behaviour::CLOSE_1001
        => eof(10, Broker).cause_lacks("without a close frame").wire(Wire::ClientCloseCode(1001));

    // The socket ends without a close frame (a 1006 for WebSocket clients).
    a_fin_without_a_close_frame_is_an_eof_by_the_broker: WS_FRAME, Behaviour::TCP_CLOSE
        => eof(10, Broker).cause("broker ended the connection without a close frame at 0.2 s").wire(Wire::NoClientClose);
    a_fin_on_plain_tcp_is_an_eof_by_the_broker: &[Tcp], Behaviour::TCP_CLOSE
        => eof(10, Broker).cause("broker ended the connection without a close frame (TCP) at 0.2 s");
    rumqttc_sees_a_fin_as_an_eof_by_the_broker: &[Rumqttc], Behaviour::TCP_CLOSE
        => eof(10, Broker);
    a_reset_is_an_eof_that_says_reset: WS_FRAME, Behaviour::TCP_RESET
        => eof(10, Broker).cause("broker reset the connection at 0.2 s");
    a_reset_on_plain_tcp_is_an_eof_that_says_reset: &[Tcp], Behaviour::TCP_RESET
        => eof(10, Broker).cause("broker reset the connection (TCP) at 0.2 s");
    rumqttc_sees_a_reset_as_an_eof_by_the_broker: &[Rumqttc], Behaviour::TCP_RESET
        => eof(10, Broker).cause("reset");

    // A hung broker: the PINGREQ at 12 units gets no PINGRESP; one keepalive (6 units) later it
    // is a TIMEOUT (the rule: client::core::State::pingresp_deadline).
    a_broker_that_stops_answering_pingreq_is_a_timeout: &[PahoJava125, Rfc6455, NoPong, CloseOnPing, UnmaskedPong, LatePong, Fragmented, Tcp], Behaviour::STOP_PINGRESP
        => timeout(18).cause("no PINGRESP to the PINGREQ at 0.2 s; the client gave up at 0.4 s, 0.1 s later");
    rumqttc_times_out_on_a_hung_broker_at_its_second_keepalive_tick: &[Rumqttc], Behaviour::STOP_PINGRESP
        => timeout(100).cause("no PINGRESP to the PINGREQ at 1.0 s; rumqttc gave up at its next keepalive tick");

    // Fragmented messages: Paho Java 1.2.5's second known bug.
    paho_java_rejects_a_continuation_frame: &[PahoJava125], Behaviour::CONTINUATION
        => eof(10, Client)
            .cause("broker sent WebSocket CONTINUATION (0x0) at 0.2 s; paho-java-1.2.5 rejects opcode 0x0 and drops the connection")
            .wire(Wire::ClientClose(b"1000"));
    every_other_websocket_profile_reassembles_a_fragmented_publish: &[Rfc6455, NoPong, CloseOnPing, UnmaskedPong, LatePong, Fragmented, Rumqttc], Behaviour::CONTINUATION
        => ok();

    // Text frames: MQTT 3.1.1 §6 says the client must close.
    paho_java_rejects_a_text_frame: &[PahoJava125], Behaviour::TEXT_FRAME
        => eof(10, Client).cause("paho-java-1.2.5 rejects opcode 0x1 and drops the connection").wire(Wire::ClientClose(b"1000"));
    every_other_frame_level_profile_closes_with_1003_on_a_text_frame: WS_FRAME_BUT_PAHO, Behaviour::TEXT_FRAME
        => eof(10, Client)
            .cause("broker sent WebSocket TEXT (0x1) at 0.2 s;")
            .cause("closes the connection on a text frame, as MQTT 3.1.1 §6 requires")
            .wire(Wire::ClientCloseCode(1003));
    // ws_stream_tungstenite closes with 1003 "Text messages are not supported." and rumqttc
    // then reports a plain end of stream: who ended it is not visible to the session.
    rumqttc_closes_with_1003_on_a_text_frame: &[Rumqttc], Behaviour::TEXT_FRAME
        => eof(10, Client).by_either().cause_lacks("without a close frame").wire(Wire::ClientCloseCode(1003));

    // A PING with a payload: the PONG must echo it (RFC 6455 §5.5.3).
    paho_java_rejects_a_ping_with_a_payload: &[PahoJava125], Behaviour::PING_WITH_PAYLOAD
        => eof(10, Client).cause("rejects opcode 0x9").wire(Wire::ClientClose(b"1000"));
    rfc6455_and_fragmented_echo_the_ping_payload_in_a_masked_pong: &[Rfc6455, Fragmented], Behaviour::PING_WITH_PAYLOAD
        => ok().cause("1 PING(s) from the broker, the first at 0.2 s, 1 PONG(s) sent").wire(Wire::Pongs { masked: true, payload: PING_PAYLOAD });
    rumqttc_echoes_the_ping_payload_in_a_masked_pong: &[Rumqttc], Behaviour::PING_WITH_PAYLOAD
        => ok().cause_lacks("no WebSocket PING seen").wire(Wire::Pongs { masked: true, payload: PING_PAYLOAD });
    unmasked_pong_echoes_the_ping_payload_unmasked: &[UnmaskedPong], Behaviour::PING_WITH_PAYLOAD
        => ok().wire(Wire::Pongs { masked: false, payload: PING_PAYLOAD });
    late_pong_echoes_the_ping_payload_fifteen_units_later: &[LatePong], Behaviour::PING_WITH_PAYLOAD
        => ok().wire(Wire::Pongs { masked: true, payload: PING_PAYLOAD }).wire(Wire::FirstPongAfter(15));
    no_pong_survives_a_ping_nobody_enforces: &[NoPong], Behaviour::PING_WITH_PAYLOAD
        => ok().cause("1 PING(s) from the broker, the first at 0.2 s, 0 PONG(s) sent").wire(Wire::NoPongs);
    close_on_ping_closes_on_a_ping_with_a_payload_too: &[CloseOnPing], Behaviour::PING_WITH_PAYLOAD
        => eof(10, Client).wire(Wire::ClientCloseCode(1000));

    // Refusals before the session starts.
    every_profile_refused_by_connack_4_is_refused_for_bad_credentials: &Profile::ALL, Behaviour::REFUSE_CONNACK_4
        => refused().connack(4).cause("CONNACK refused the session: return code 4 (bad user name or password)");
    every_profile_refused_by_connack_5_is_refused_as_not_authorized: &Profile::ALL, Behaviour::REFUSE_CONNACK_5
        => refused().connack(5).cause("CONNACK refused the session: return code 5 (not authorized)");
    a_403_to_the_upgrade_is_refused_with_the_status: WS_FRAME, Behaviour::REFUSE_UPGRADE_403
        => refused().cause("WebSocket upgrade refused: HTTP 403 Forbidden");
    a_404_to_the_upgrade_is_refused_with_the_status: WS_FRAME, Behaviour::REFUSE_UPGRADE_404
        => refused().cause("WebSocket upgrade refused: HTTP 404 Not Found");
    rumqttc_is_refused_by_a_403_to_the_upgrade: &[Rumqttc], Behaviour::REFUSE_UPGRADE_403
        => refused().cause("403");
    rumqttc_is_refused_by_a_404_to_the_upgrade: &[Rumqttc], Behaviour::REFUSE_UPGRADE_404
        => refused().cause("404");

    // A 101 without the subprotocol the client asked for.
    frame_level_profiles_carry_on_without_a_subprotocol_and_record_none: WS_FRAME, Behaviour::NO_SUBPROTOCOL
        => ok().wire(Wire::Subprotocol(None));
    rumqttc_refuses_an_upgrade_without_the_mqtt_subprotocol: &[Rumqttc], Behaviour::NO_SUBPROTOCOL
        => refused().cause("WebSocket upgrade failed in rumqttc");
}

/// Pairs no case runs, each with the reason.
const EXCLUDED: &[(&[Profile], &[Behaviour], &str)] = &[(
    &[Tcp],
    &[
        Behaviour::LWS4,
        Behaviour::LWS4_STRICT,
        Behaviour::CLOSE_1000,
        Behaviour::CLOSE_1001,
        Behaviour::CONTINUATION,
        Behaviour::TEXT_FRAME,
        Behaviour::PING_WITH_PAYLOAD,
        Behaviour::REFUSE_UPGRADE_403,
        Behaviour::REFUSE_UPGRADE_404,
        Behaviour::NO_SUBPROTOCOL,
    ],
    "the tcp profile speaks plain MQTT on port 1883: there is no WebSocket frame, upgrade or \
     subprotocol for these behaviours to act on (its listener plays NO_PINGS for them)",
)];

/// The result of every covered cell, run once and concurrently.
fn cells() -> &'static [Result<Cell, String>] {
    static CELLS: OnceLock<Vec<Result<Cell, String>>> = OnceLock::new();
    CELLS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the profile cells");
        runtime.block_on(async {
            let runs: Vec<_> = pairs(COVERED)
                .map(|(profile, behaviour)| tokio::spawn(support::run_cell(profile, behaviour, UNIT, timing(profile))))
                .collect();
            let mut cells = Vec::with_capacity(runs.len());
            for run in futures_util::future::join_all(runs).await {
                cells.push(run.unwrap_or_else(|e| Err(format!("the cell's task failed: {e}"))));
            }
            cells
        })
    })
}

fn pairs(rows: &'static [(&'static [Profile], Behaviour)]) -> impl Iterator<Item = (Profile, Behaviour)> {
    rows.iter().flat_map(|(profiles, b)| profiles.iter().map(move |p| (*p, *b)))
}

fn check(profiles: &[Profile], behaviour: Behaviour, expect: &Expect) {
    let mut report = String::new();
    for &profile in profiles {
        let index = pairs(COVERED).position(|pair| pair == (profile, behaviour)).expect("the row is in COVERED");
        match &cells()[index] {
            Err(e) => report.push_str(&format!("{profile} × {}: {e}\n", behaviour.name())),
            Ok(cell) => {
                if std::env::var_os("SHOW_CELLS").is_some() {
                    eprintln!("{}", support::describe(cell));
                }
                let bad = expect.mismatches(cell);
                if !bad.is_empty() {
                    report.push_str(&format!("{}  MISMATCH: {}\n", support::describe(cell), bad.join("; ")));
                }
            }
        }
    }
    assert!(report.is_empty(), "\n{report}");
}

#[test]
fn every_profile_meets_every_behaviour_in_exactly_one_case_or_a_written_exclusion() {
    let mut decided: Vec<(Profile, Behaviour)> = pairs(COVERED).collect();
    for (profiles, behaviours, reason) in EXCLUDED {
        assert!(!reason.trim().is_empty(), "every exclusion says why");
        for p in *profiles {
            decided.extend(behaviours.iter().map(|b| (*p, *b)));
        }
    }
    let mut problems = Vec::new();
    for (p, b) in &decided {
        if !Behaviour::ALL.contains(b) {
            problems.push(format!("{p} × {}: behaviour not in Behaviour::ALL", b.name()));
        }
    }
    for p in Profile::ALL {
        for b in Behaviour::ALL {
            match decided.iter().filter(|d| **d == (p, b)).count() {
                1 => {}
                0 => problems.push(format!("{p} × {}: neither a case nor an exclusion", b.name())),
                n => problems.push(format!("{p} × {}: decided {n} times", b.name())),
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn only_websocket_only_behaviours_are_excluded_for_the_tcp_profile() {
    for (profiles, behaviours, _) in EXCLUDED {
        for b in *behaviours {
            assert!(
                profiles.iter().all(|p| *p == Tcp) && b.websocket_only(),
                "{} is excluded for {profiles:?} but could run there",
                b.name()
            );
        }
    }
}
