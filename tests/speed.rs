//! Time conversions on an accelerated clock, against the scripted peer: a built-in profile
//! runs as a command under the time library at ×N, the peer plays libwebsockets in real time,
//! and the verdict must report the peer's real times × N — at ×1, ×10 and ×30.
//!
//! Needs Debian's libfaketime (`bash docker/faketime.sh`), so it runs by name:
//! `cargo test --test speed`. Without the library it fails, naming the set-up command.

#[allow(dead_code)] // the profile tests use the rest of it
mod support;

use std::path::PathBuf;
use std::time::Duration;

use mosquitto_matrix::client::command::{self, CommandSpec};
use mosquitto_matrix::engine::clock::{self, Libc};
use mosquitto_matrix::judge::record::{Direction, Party};
use mosquitto_matrix::judge::verdict::{self, Verdict};
use mosquitto_matrix::plan::{Outcome, Profile, Timing};
use mosquitto_matrix::wire::frame::opcode;
use rstest::rstest;

use support::peer::{Behaviour, Peer};

/// The peer's unit of real time. Large enough that a busy machine cannot starve the client
/// past 1.5 × its keepalive (6 units, 1.5 s real): with 20 ms units a 0.2 s stall under a
/// load average of 25 made the ×30 no-pong cell an honest starved ERROR.
const UNIT: Duration = Duration::from_millis(250);

fn workdir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A cell of `profile` at ×`speed` against libwebsockets 4 played in real time: PING 15
/// units after CONNACK, hang-up 10 units later without a PONG.
async fn accelerated(profile: Profile, speed: u32) -> Verdict {
    let library = clock::library_path(Libc::Glibc, &workdir());
    assert!(library.exists(), "{} is missing: run `bash docker/faketime.sh`", library.display());
    let n = f64::from(speed);
    // The client's durations are on its own clock, which is the broker's: real × N.
    let broker = |units: u32| (UNIT * units).mul_f64(n);
    let timing = Timing {
        hold: broker(40),
        keepalive: broker(6),
        late_pong: broker(15),
        setup_timeout: Duration::from_secs(10).mul_f64(n),
        round_trip_timeout: broker(5),
    };
    let peer = Peer::start(profile.transport(), Behaviour::LWS4, UNIT).await.expect("a peer");
    let spec = CommandSpec {
        client: command::builtin_command(profile, &timing),
        host: "127.0.0.1".into(),
        port: peer.port(),
        username: "matrix".into(),
        password: "secret".into(),
        client_id: format!("speed-{speed}"),
        timing,
        workdir: workdir(),
        speed: n,
        extra_env: if speed > 1 { clock::clock_env(&library.to_string_lossy(), speed) } else { Vec::new() },
        started: Default::default(),
        tls: None,
        lateness: None,
    };
    let record = command::run(&spec).await;
    peer.finish().await;
    verdict::decide(&record)
}

/// Whether a broker-time value is `units` of real time × `speed`, give or take 2 units.
fn near(got: Duration, units: u32, speed: u32) -> bool {
    let want = (UNIT * units).as_secs_f64() * f64::from(speed);
    (got.as_secs_f64() - want).abs() <= (UNIT * 2).as_secs_f64() * f64::from(speed)
}

#[rstest]
#[case::real_time(1)]
#[case::ten_times(10)]
#[case::thirty_times(30)]
#[tokio::test(flavor = "multi_thread")]
async fn times_on_an_accelerated_clock_are_the_real_times_times_the_speed(#[case] speed: u32) {
    let (paho, no_pong, rfc) =
        tokio::join!(accelerated(Profile::PahoJava125, speed), accelerated(Profile::NoPong, speed), accelerated(Profile::Rfc6455, speed));

    assert_eq!((paho.outcome, paho.ended_by), (Outcome::Eof, Some(Party::Client)), "{}", paho.cause);
    assert!(paho.at.is_some_and(|at| near(at, 15, speed)), "paho ended at {:?}, not 15 units × {speed}: {}", paho.at, paho.cause);

    assert_eq!((no_pong.outcome, no_pong.ended_by), (Outcome::Eof, Some(Party::Broker)), "{}", no_pong.cause);
    assert!(no_pong.at.is_some_and(|at| near(at, 25, speed)), "no-pong ended at {:?}, not 25 units × {speed}", no_pong.at);

    assert_eq!(rfc.outcome, Outcome::Ok, "{}", rfc.cause);
    let ping = rfc.frames.iter().find(|f| f.direction == Direction::Received && f.opcode == opcode::PING).expect("a PING");
    assert!(near(ping.at, 15, speed), "the PING at {:?}, not 15 units × {speed}", ping.at);
    assert_eq!(rfc.at, Some((UNIT * 40).mul_f64(f64::from(speed))), "an OK ends at the hold, in broker time");
}
