//! Command columns without Docker: every built-in profile run twice against every scripted
//! broker behaviour — in process, and as a command (`mosquitto-matrix client --profile …`)
//! through the recording proxy — must come to the same outcome, the same party and the same
//! times. That pins the contract, the proxy and the recorder. Then the clients that break the
//! contract: each gets a clear cell, never a hang or a false OK, and leaves no process.

#[allow(dead_code)] // the profile tests use the rest of it
mod support;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mosquitto_matrix::client::command::{self, MAX_LINE, TAIL_LINES};
use mosquitto_matrix::engine::priority;
use mosquitto_matrix::judge::record::{End, Party, SessionRecord};
use mosquitto_matrix::judge::verdict::{self, Verdict};
use mosquitto_matrix::plan::{CommandClient, Outcome, Profile, Timing, Transport};

use support::peer::{Behaviour, Peer};
use support::timing_in;

/// The peer's unit of real time here: 50 ms, not the profile tests' 20 ms. Each twin starts a
/// process beside seven others, and with 20 ms units a 0.2 s stall on a busy machine (load
/// average 6-20 in the CI dry runs beside other builds) was a hang-up in one path only.
const UNIT: Duration = Duration::from_millis(50);

fn timing(profile: Profile) -> Timing {
    timing_in(profile, UNIT)
}

/// How far the two paths' end times may differ: three units. Both count from the peer's 101,
/// but the command path goes through a child process, which a busy machine delays: with a
/// CPU hog on both cores the widest gap measured was 19-48 ms, idle 3-15 ms.
const SAME_TIME: Duration = Duration::from_millis(150);

/// How many twins run at once.
const CONCURRENT_TWINS: usize = 8;



/// One cell through the proxy against a fresh peer.
async fn through_proxy(client: CommandClient, behaviour: Behaviour, timing: Timing) -> Result<(SessionRecord, Verdict), String> {
    let peer = Peer::start(client.transport, behaviour, UNIT).await.map_err(|e| format!("peer: {e}"))?;
    let record = command::run(&support::command_spec(client, peer.port(), timing)).await;
    let v = verdict::decide(&record);
    peer.finish().await;
    Ok((record, v))
}

/// The pairs a profile can meet: plain TCP has no WebSocket behaviour to meet.
fn pairs() -> Vec<(Profile, Behaviour)> {
    Profile::ALL
        .iter()
        .flat_map(|p| Behaviour::ALL.iter().map(move |b| (*p, *b)))
        .filter(|(p, b)| p.transport() == Transport::Ws || !b.websocket_only())
        .collect()
}

/// Where the proxy sees more than the library lets the in-process rumqttc session see, the
/// two paths may name the outcome differently; each exception says why.
fn known_difference(profile: Profile, behaviour: Behaviour) -> Option<&'static str> {
    match (profile, behaviour) {
        (Profile::Rumqttc, Behaviour::CloseFrame { .. }) => {
            Some("rumqttc completes the closing handshake inside the library and reports an end of stream (EOF); the proxy sees the close frame (CLOSED)")
        }
        (Profile::Rumqttc, Behaviour::TextFrame { .. }) => {
            Some("rumqttc does not say who closed after a text frame; the proxy sees the client's close 1003")
        }
        _ => None,
    }
}

struct Twin {
    profile: Profile,
    behaviour: Behaviour,
    inside: Verdict,
    outside: Result<(SessionRecord, Verdict), String>,
}

fn twins() -> &'static [Twin] {
    static TWINS: OnceLock<Vec<Twin>> = OnceLock::new();
    TWINS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            // A few at a time: the two paths run at different moments, and a machine loaded with
            // hundreds of sessions and processes fires timers late by tens of milliseconds.
            let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_TWINS));
            let runs: Vec<_> = pairs()
                .into_iter()
                .map(|(profile, behaviour)| {
                    let slots = std::sync::Arc::clone(&slots);
                    tokio::spawn(async move {
                        let _slot = slots.acquire_owned().await.expect("the semaphore stays open");
                        let t = timing(profile);
                        let inside = support::run_cell(profile, behaviour, UNIT, t).await;
                        let outside = through_proxy(command::builtin_command(profile, &t), behaviour, t).await;
                        let inside = inside.map(|c| c.verdict).unwrap_or_else(verdict::error);
                        Twin { profile, behaviour, inside, outside }
                    })
                })
                .collect();
            let mut out = Vec::new();
            for r in futures_util::future::join_all(runs).await {
                out.push(r.expect("a twin's task"));
            }
            out
        })
    })
}

#[test]
fn every_built_in_profile_comes_to_the_same_verdict_in_process_and_as_a_command_through_the_proxy() {
    let mut report = Vec::new();
    let mut failures = 0;
    let mut widest = Duration::ZERO;
    for twin in twins() {
        let name = format!("{} × {}", twin.profile, twin.behaviour.name());
        let (record, outside) = match &twin.outside {
            Ok(o) => o,
            Err(e) => {
                report.push(format!("{name}: {e}"));
                failures += 1;
                continue;
            }
        };
        let inside = &twin.inside;
        let mut bad = Vec::new();
        if let Some(why) = known_difference(twin.profile, twin.behaviour) {
            if inside.outcome == Outcome::Ok || outside.outcome == Outcome::Ok || outside.outcome == Outcome::Error {
                bad.push(format!("a known difference ({why}) may not hide an OK or an ERROR"));
            }
        } else {
            if inside.outcome != outside.outcome {
                bad.push(format!("outcome {} in process, {} through the proxy", inside.outcome, outside.outcome));
            }
            if inside.ended_by != outside.ended_by {
                bad.push(format!("ended by {:?} in process, {:?} through the proxy", inside.ended_by, outside.ended_by));
            }
            if let (Some(a), Some(b)) = (inside.at, outside.at) {
                widest = widest.max(a.abs_diff(b));
            }
            match (inside.at, outside.at) {
                (Some(a), Some(b)) if a.abs_diff(b) > SAME_TIME => {
                    bad.push(format!("ended at {a:?} in process, {b:?} through the proxy"))
                }
                (a, b) if a.is_some() != b.is_some() => bad.push(format!("end time {a:?} in process, {b:?} through the proxy")),
                _ => {}
            }
            if inside.close_code != outside.close_code || inside.connack_code != outside.connack_code {
                bad.push(format!(
                    "close/CONNACK codes {:?}/{:?} in process, {:?}/{:?} through the proxy",
                    inside.close_code, inside.connack_code, outside.close_code, outside.connack_code
                ));
            }
        }
        if outside.outcome == Outcome::Ok && record.process.as_ref().and_then(|p| p.exit_code) != Some(0) {
            bad.push("an OK from a client that did not exit 0".into());
        }
        failures += usize::from(!bad.is_empty());
        if !bad.is_empty() || std::env::var_os("SHOW_CELLS").is_some() {
            report.push(format!(
                "{name}: {}\n  in process: {} — {}\n  proxy:      {} at {:?} — {}\n  end: {:?}\n  wire: {:?}",
                bad.join("; "),
                inside.outcome,
                inside.cause,
                outside.outcome,
                outside.at,
                outside.cause,
                record.end,
                record.wire.iter().map(|w| format!("{:.3} {:?} {}", w.at, w.from, w.what)).collect::<Vec<_>>()
            ));
        }
    }
    eprintln!("{} twins; the widest gap between the two paths' end times: {widest:?}", twins().len());
    if std::env::var_os("SHOW_CELLS").is_some() {
        eprintln!("{}", report.join("\n"));
    }
    assert!(failures == 0, "{failures} of {} twins differ:\n{}", twins().len(), report.join("\n"));
}

#[test]
fn the_proxy_says_how_paho_java_answered_the_ping_and_what_the_client_said() {
    let twin = twins()
        .iter()
        .find(|t| t.profile == Profile::PahoJava125 && t.behaviour == Behaviour::LWS4)
        .expect("paho × lws4 ran");
    let (record, v) = twin.outside.as_ref().expect("the command cell ran");
    assert_eq!((v.outcome, v.ended_by), (Outcome::Eof, Some(Party::Client)));
    assert!(
        v.cause.starts_with(&format!(
            "broker sent WebSocket PING at {:.1} s; the client answered with a close frame (payload \"1000\") ",
            (UNIT * 15).as_secs_f64()
        )),
        "{}",
        v.cause
    );
    assert!(v.cause.contains("ms later and exited 1: lost: paho-java-1.2.5 rejects opcode 0x9 and drops the connection"), "{}", v.cause);
    let process = record.process.as_ref().expect("a process");
    assert!(process.library.as_deref().is_some_and(|l| l.contains("built-in profile paho-java-1.2.5")), "{process:?}");
    assert_eq!(process.connections, 1);
}

// ---- clients that break the contract ----

fn quick() -> Timing {
    Timing {
        hold: Duration::from_millis(600),
        keepalive: Duration::from_secs(5),
        late_pong: Duration::from_secs(1),
        // Room for a busy machine to start the test client: the bound is hold + round trip +
        // set-up, and at a load average of 15 an 800 ms set-up killed a client that had done
        // its part.
        setup_timeout: Duration::from_secs(4),
        round_trip_timeout: Duration::from_millis(400),
    }
}

fn sh(name: &str, transport: Transport, script: &str) -> CommandClient {
    CommandClient {
        name: name.into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        transport,
        path: "/mqtt".into(),
        description: None,
        seen_in: None,
        setup: None,
        accelerates: true,
        cost: None,
        runtime_cost: None,
        protocol: Default::default(),
        service: None,
        runtime: None,
        artefact: None,
    }
}

/// A Python client that connects over TCP, gets CONNACK, then does `then`.
fn python(name: &str, then: &str) -> CommandClient {
    let script = format!(
        "import os, socket, struct, sys, time\n\
         s = socket.create_connection((os.environ['MATRIX_HOST'], int(os.environ['MATRIX_PORT'])))\n\
         cid = os.environ['MATRIX_CLIENT_ID'].encode()\n\
         body = b'\\x00\\x04MQTT\\x04\\x02\\x00\\x3c' + struct.pack('!H', len(cid)) + cid\n\
         s.sendall(bytes([0x10, len(body)]) + body)\n\
         s.recv(4)\n\
         print('client: a test client 0', flush=True)\n\
         {then}\n"
    );
    CommandClient { command: vec!["python3".into(), "-c".into(), script], ..sh(name, Transport::Tcp, "") }
}

async fn run_against_peer(client: CommandClient, t: Timing) -> (SessionRecord, Verdict, Duration) {
    let peer = Peer::start(client.transport, Behaviour::NO_PINGS, UNIT).await.expect("a peer");
    let started = Instant::now();
    let record = command::run(&support::command_spec(client, peer.port(), t)).await;
    let took = started.elapsed();
    let v = verdict::decide(&record);
    peer.finish().await;
    (record, v, took)
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc lists").flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) && !cmd.contains("cargo") {
                found.push(cmd);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_that_does_not_exist_is_an_error_naming_it_and_the_path() {
    let c = CommandClient { command: vec!["no-such-client-4242".into()], ..sh("ghost", Transport::Ws, "") };
    let (_, v, _) = run_against_peer(c, quick()).await;
    assert_eq!(v.outcome, Outcome::Error);
    assert!(v.cause.contains("cannot start client ghost: \"no-such-client-4242\""), "{}", v.cause);
    assert!(v.cause.contains("PATH="), "{}", v.cause);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_exits_at_once_without_connecting_is_an_error_with_its_stderr() {
    let (_, v, took) = run_against_peer(sh("quitter", Transport::Ws, "echo 'no broker for me' >&2; exit 3"), quick()).await;
    assert_eq!(v.outcome, Outcome::Error);
    assert!(v.cause.contains("exited 3 without connecting"), "{}", v.cause);
    assert!(v.cause.contains("no broker for me"), "{}", v.cause);
    assert!(took < Duration::from_secs(3), "it did not wait for the bound: {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_connects_and_never_subscribes_or_exits_is_killed_at_the_bound() {
    let t = quick();
    let (record, v, took) = run_against_peer(python("hanger", "time.sleep(1000)"), t).await;
    assert_eq!(v.outcome, Outcome::Error, "{}", v.cause);
    assert!(v.cause.contains("was killed"), "{}", v.cause);
    let bound = t.hold + t.round_trip_timeout + t.setup_timeout;
    assert!(took >= bound && took < bound + command::TERM_GRACE + Duration::from_secs(2), "{took:?}");
    assert!(record.process.as_ref().is_some_and(|p| p.killed));
}

/// A client program starts at the clients' niceness, so that its start-up gives way to the
/// brokers, and runs at the answering niceness once its broker accepted the session
/// (`engine::priority::raise_client`): from then on it answers the brokers' PINGs.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_program_gives_way_while_it_starts_and_answers_at_the_answering_niceness_once_accepted() {
    // Its niceness before CONNACK; after it, the first other niceness it sees (it waits at
    // most 3 s for the harness to raise it, polling, since nothing tells it), then it exits.
    let before = "import os\nfirst = os.getpriority(os.PRIO_PROCESS, 0)\n";
    let after = "end = time.time() + 3\n\
         while os.getpriority(os.PRIO_PROCESS, 0) == first and time.time() < end: time.sleep(0.01)\n\
         print('niceness: %d then %d' % (first, os.getpriority(os.PRIO_PROCESS, 0)), flush=True)";
    let mut client = python("raised", after);
    client.command[2] = format!("{before}{}", client.command[2]);
    let (record, _, _) = run_against_peer(client, quick()).await;
    let tail = record.process.map(|p| p.tail).unwrap_or_default();
    let want = if rustix::process::geteuid().is_root() {
        format!("niceness: {} then {}", priority::CLIENT_NICENESS, priority::ANSWERING_NICENESS)
    } else {
        // Lowering a niceness needs root or CAP_SYS_NICE: it stays where it started.
        format!("niceness: {0} then {0}", priority::CLIENT_NICENESS)
    };
    assert!(tail.contains(&want), "{tail:?}, want {want:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_exits_0_before_the_hold_ended_the_session_itself_and_is_not_ok() {
    let disconnect = "s.sendall(b'\\xe0\\x00'); s.close(); print('done: early', flush=True); sys.exit(0)";
    let (record, v, _) = run_against_peer(python("early", disconnect), quick()).await;
    assert_eq!((v.outcome, v.ended_by), (Outcome::Eof, Some(Party::Client)), "{}", v.cause);
    assert!(v.cause.contains("the client ended the session with an MQTT DISCONNECT at"), "{}", v.cause);
    assert!(v.cause.contains("before the 0.6 s hold ended and exited 0"), "{}", v.cause);
    assert!(matches!(record.end, End::ClientEnded { .. }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_prints_megabytes_keeps_a_bounded_tail() {
    let flood = "head -c 30000000 /dev/zero | tr '\\0' 'x'; echo; yes 'a line of output' | head -n 200000; exit 1";
    let (record, v, _) = run_against_peer(sh("flood", Transport::Ws, flood), quick()).await;
    assert_eq!(v.outcome, Outcome::Error);
    let p = record.process.expect("a process");
    assert!(p.tail.len() <= TAIL_LINES, "{} lines kept", p.tail.len());
    assert!(p.tail.iter().all(|l| l.chars().count() <= MAX_LINE + 1), "a kept line is longer than {MAX_LINE}");
    assert_eq!(p.tail.last().map(String::as_str), Some("a line of output"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_ignores_sigterm_is_killed_and_leaves_no_process() {
    let marker = "1000.4242";
    let stubborn = format!("trap '' TERM; sleep {marker} & sleep {marker}");
    let t = quick();
    let (record, v, took) = run_against_peer(sh("stubborn", Transport::Ws, &stubborn), t).await;
    assert_eq!(v.outcome, Outcome::Error);
    let p = record.process.expect("a process");
    assert!(p.killed && p.ended.contains("SIGTERM, then SIGKILL"), "{}", p.ended);
    let bound = t.hold + t.round_trip_timeout + t.setup_timeout;
    assert!(took >= bound + command::TERM_GRACE, "SIGKILL came before the grace: {took:?}");
    assert!(processes_with(marker).is_empty(), "left behind: {:?}", processes_with(marker));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_exits_but_leaves_a_child_behind_leaves_no_process_after_its_cell() {
    let marker = "1000.4343";
    let (_, _, _) = run_against_peer(sh("orphaner", Transport::Ws, &format!("sleep {marker} & exit 0")), quick()).await;
    assert!(processes_with(marker).is_empty(), "left behind: {:?}", processes_with(marker));
}
