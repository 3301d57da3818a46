//! Hostile bytes from the broker through the session core: a player of any profile, MQTT
//! 3.1.1 or 5 by the first byte, gets the bytes in chunks with the clock moving on; it must
//! never panic, end at most once, and write nothing after its end.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mosquitto_matrix::client::core::{Player, Script};
use mosquitto_matrix::plan::{Profile, Timing};
use mosquitto_matrix::wire::mqtt::Protocol;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else { return };
    let profile = Profile::ALL[usize::from(seed & 0x7f) % Profile::ALL.len()];
    let protocol = if seed & 0x80 != 0 { Protocol::V5 } else { Protocol::V311 };
    let ms = Duration::from_millis;
    let mut player = Player::new(Script {
        profile,
        protocol,
        timing: Timing { hold: ms(400), keepalive: ms(100), late_pong: ms(50), setup_timeout: ms(300), round_trip_timeout: ms(100) },
        client_id: "c".into(),
        username: "u".into(),
        password: "p".into(),
        topic: "test/c".into(),
    });
    let mut ended = player.open(ms(0), Some("mqtt".into())).end.is_some();
    let mut now = 0u64;
    let mut rest = stream;
    let mut step = usize::from(seed);
    while !rest.is_empty() {
        step = step.wrapping_mul(31).wrapping_add(7);
        let n = (step % 23 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        now += (step % 40) as u64;
        for s in [player.input(ms(now), chunk), player.tick(ms(now))] {
            if ended {
                assert!(s.out.is_empty() && s.end.is_none(), "the player went on after its end: {s:?}");
            }
            ended |= s.end.is_some();
        }
    }
});
