//! Faster than the clock: a broker's timers run ×N on a preloaded time library
//! (libfaketime, `FAKETIME="+0 xN"`), and the broker proves it before its cells count.
//!
//! The library goes into the container as a file (so remote engines work too), built for the
//! image's C library: the musl build when the image has musl's loader, Debian's glibc build
//! otherwise. A broker whose clock did not run — a static binary, a loader that refused the
//! library, a library that was silently ignored — is caught by the proof: its
//! `$SYS/broker/uptime` must advance N times faster than real time, within 5 %.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use testcontainers::bollard::models::ContainerCreateBody;
use testcontainers::bollard::query_parameters::{DownloadFromContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use tokio::time::{timeout, Instant};

use crate::engine::labels::Labels;
use crate::engine::link::{Link, Listener, Probe};
use crate::wire::mqtt::{self, Packet};

/// Where the time library goes inside a broker container.
pub const PRELOAD_PATH: &str = "/opt/mosquitto-matrix/libfaketime.so.1";
/// The glibc build `docker/faketime.sh` makes from Debian's source against bullseye's glibc
/// 2.31, relative to the project: Debian bookworm's own package needs glibc 2.34, which
/// bullseye's image lacks, and a library built on an old glibc loads on every newer one.
pub const GLIBC_LIBRARY: &str = "target/faketime/glibc/libfaketime.so.1";
/// The musl build `docker/faketime.sh` makes from Debian's source, relative to the project.
pub const MUSL_LIBRARY: &str = "target/faketime/musl/libfaketime.so.1";
/// How far a proven speed may be from the asked one.
pub const SPEED_TOLERANCE: f64 = 0.05;
/// How much broker time the proof spans at least; Mosquitto publishes its uptime every
/// 10 s of broker time (`sys_interval`), in whole seconds.
const PROOF_SPAN: Duration = Duration::from_secs(40);
/// The `$SYS` topic the proof reads.
const UPTIME_TOPIC: &str = "$SYS/broker/uptime";

/// Why a broker's clock cannot be (or was not) accelerated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The time library for the image's C library is not on this machine.
    #[error("the {libc} build of libfaketime is not at {path}: run `bash docker/faketime.sh`")]
    Missing {
        /// glibc or musl.
        libc: &'static str,
        /// Where it was looked for.
        path: String,
    },
    /// The image's C library could not be told.
    #[error("cannot tell {image}'s C library: {why}")]
    Libc {
        /// `name:tag`.
        image: String,
        /// What failed.
        why: String,
    },
    /// The broker's uptime did not advance at the asked speed.
    #[error("acceleration not in effect: {0}")]
    NotInEffect(String),
}

/// The C library of an image, which decides the build of the time library it can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    /// GNU libc (Debian's images).
    Glibc,
    /// musl (Alpine, which the official images are).
    Musl,
}

impl Libc {
    /// `glibc` or `musl`.
    pub fn name(self) -> &'static str {
        match self {
            Libc::Glibc => "glibc",
            Libc::Musl => "musl",
        }
    }
}

/// Where the two builds of the time library are: `MATRIX_FAKETIME_GLIBC` and
/// `MATRIX_FAKETIME_MUSL` when set, else where `docker/faketime.sh` puts them.
pub fn library_path(libc: Libc, workdir: &Path) -> PathBuf {
    match libc {
        Libc::Glibc => std::env::var_os("MATRIX_FAKETIME_GLIBC").map_or_else(|| workdir.join(GLIBC_LIBRARY), PathBuf::from),
        Libc::Musl => std::env::var_os("MATRIX_FAKETIME_MUSL").map_or_else(|| workdir.join(MUSL_LIBRARY), PathBuf::from),
    }
}

/// The environment that runs a process's clock `speed` times faster.
pub fn clock_env(library: &str, speed: u32) -> Vec<(String, String)> {
    vec![("LD_PRELOAD".to_string(), library.to_string()), ("FAKETIME".to_string(), format!("+0 x{speed}"))]
}

/// What a broker container needs to run ×N: the library's bytes and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceleration {
    /// The speed.
    pub speed: u32,
    /// The image's C library.
    pub libc: Libc,
    /// The library file's contents, copied to [`PRELOAD_PATH`].
    pub library: Vec<u8>,
}

impl Acceleration {
    /// Reads the library built for `libc`.
    pub fn load(speed: u32, libc: Libc, workdir: &Path) -> Result<Acceleration, ClockError> {
        let path = library_path(libc, workdir);
        let library = std::fs::read(&path).map_err(|_| ClockError::Missing { libc: libc.name(), path: path.display().to_string() })?;
        Ok(Acceleration { speed, libc, library })
    }

    /// The container's environment.
    pub fn env(&self) -> Vec<(String, String)> {
        clock_env(PRELOAD_PATH, self.speed)
    }
}

/// The loader names of this machine's architecture: (musl's, glibc's).
fn loaders() -> (String, String) {
    match std::env::consts::ARCH {
        "aarch64" => ("/lib/ld-musl-aarch64.so.1".into(), "/lib/ld-linux-aarch64.so.1".into()),
        arch => (format!("/lib/ld-musl-{arch}.so.1"), format!("/lib64/ld-linux-{}.so.2", arch.replace('_', "-"))),
    }
}

/// [`image_libc`] once per image, by the engine's id for it, for the life of this process:
/// the copies of a tag (and a second run of the same image) share the answer instead of
/// each creating and removing a container to read it. A failed look is not kept.
pub async fn image_libc_once(image: &str, labels: &Labels) -> Result<Libc, ClockError> {
    type Known = std::sync::Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Libc>>>>;
    static KNOWN: OnceLock<Known> = OnceLock::new();
    let id = match testcontainers::core::client::docker_client_instance().await {
        Ok(docker) => docker.inspect_image(image).await.ok().and_then(|i| i.id),
        Err(_) => None,
    };
    // An image the engine cannot name by id is asked every time.
    let Some(id) = id else { return image_libc(image, labels).await };
    let cell = {
        let mut known = KNOWN.get_or_init(Known::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(known.entry(id).or_default())
    };
    cell.get_or_try_init(|| image_libc(image, labels)).await.copied()
}

/// Tells an image's C library by its dynamic loader, read from a container that is created
/// but never started (so an image without a shell works too), then removed.
pub async fn image_libc(image: &str, labels: &Labels) -> Result<Libc, ClockError> {
    let fail = |why: String| ClockError::Libc { image: image.to_string(), why };
    let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| fail(e.to_string()))?;
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        labels: Some(labels.pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
        ..ContainerCreateBody::default()
    };
    let id = docker.create_container(None, body).await.map_err(|e| fail(e.to_string()))?.id;
    let has = |path: String| {
        let docker = docker.clone();
        let id = id.clone();
        async move {
            let options = DownloadFromContainerOptionsBuilder::new().path(&path).build();
            let mut stream = docker.download_from_container(&id, Some(options));
            matches!(stream.next().await, Some(Ok(_)))
        }
    };
    let (musl, glibc) = loaders();
    let found = if has(musl).await {
        Ok(Libc::Musl)
    } else if has(glibc.clone()).await {
        Ok(Libc::Glibc)
    } else {
        Err(fail(format!("neither musl's nor glibc's loader ({glibc}) is in the image")))
    };
    let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    let _ = docker.remove_container(&id, Some(options)).await;
    found
}

/// A broker's speed as measured from its `$SYS/broker/uptime`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proof {
    /// Broker seconds per real second.
    pub ratio: f64,
    /// The broker time the measurement spanned.
    pub broker: Duration,
    /// The real time it spanned.
    pub real: Duration,
}

/// Whether a measured ratio is the asked speed within [`SPEED_TOLERANCE`].
pub fn speed_holds(ratio: f64, speed: u32) -> bool {
    (ratio - f64::from(speed)).abs() <= f64::from(speed) * SPEED_TOLERANCE
}

/// How far a first measurement may stray before it is called a clock that did not run,
/// rather than a busy machine: within it the proof measures longer, up to [`PROOF_SPANS`].
const NOISY: f64 = 0.5;
/// How many [`PROOF_SPAN`]s a proof may measure on a busy machine.
const PROOF_SPANS: u32 = 3;

/// The speed that a broker's `$SYS/broker/uptime` publishes show: `(uptime, seconds after
/// the first was received)` in order of arrival. A publish can only arrive late, never early:
/// so of the first half of the samples and of the second, the one least delayed (the least
/// real time for its uptime at the asked speed) is taken, and the speed is read between
/// those two. Load that delays some publishes does not move it; a clock that did not run
/// still reads ×1. `None` with fewer than two samples or no time between the two taken.
pub fn envelope_ratio(samples: &[(u64, f64)], speed: u32) -> Option<(f64, u64, f64)> {
    if samples.len() < 2 {
        return None;
    }
    let s = f64::from(speed);
    let delay = |&(u, r): &(u64, f64)| r - u as f64 / s;
    let least = |part: &[(u64, f64)]| part.iter().copied().min_by(|a, b| delay(a).total_cmp(&delay(b)));
    let (first, second) = samples.split_at(samples.len() / 2);
    let (a, b) = (least(first)?, least(second)?);
    let (broker, real) = (b.0.checked_sub(a.0)?, b.1 - a.1);
    (real > 0.0).then(|| (broker as f64 / real, broker, real))
}

/// Proves a broker runs ×`speed`: reads live `$SYS/broker/uptime` publishes over at least
/// `PROOF_SPAN` of broker time and reads the speed from them ([`envelope_ratio`]). On a busy
/// machine a reading that strays but is not far off goes on over up to `PROOF_SPANS` spans.
pub async fn prove(listener: &Listener, probe: &Probe, speed: u32) -> Result<Proof, ClockError> {
    let not = |why: String| ClockError::NotInEffect(why);
    let span_real = PROOF_SPAN.div_f64(f64::from(speed));
    // The first live publish comes within one sys_interval (10 s of broker time); a broker
    // at real time would need far longer, and that is what the bound catches.
    let bound = span_real * (PROOF_SPANS + 1) + Duration::from_secs(10).div_f64(f64::from(speed)) * 2 + Duration::from_secs(5);
    let mut samples: Vec<(u64, f64)> = Vec::new();
    let measured = timeout(bound, async {
        let id = format!("mm-clock-{:08x}", rand::random::<u32>());
        let (mut link, code) = Link::open(listener, probe, &id, 60).await?;
        if code != 0 {
            return Err(format!("CONNACK refused the clock proof: return code {code} ({})", mqtt::connack_reason(code)));
        }
        link.send(&Packet::Subscribe { id: 1, filters: vec![UPTIME_TOPIC.to_string()] }).await?;
        let mut first: Option<Instant> = None;
        let mut seen = 0;
        loop {
            let Packet::Publish { topic, payload, .. } = link.next(UPTIME_TOPIC).await? else { continue };
            if topic != UPTIME_TOPIC {
                continue;
            }
            seen += 1;
            let now = Instant::now();
            // The first is the retained value, as old as one sys_interval: skip it.
            if seen == 1 {
                continue;
            }
            let uptime = parse_uptime(&payload).ok_or_else(|| format!("{UPTIME_TOPIC} is {:?}", String::from_utf8_lossy(&payload)))?;
            let t0 = *first.get_or_insert(now);
            samples.push((uptime, (now - t0).as_secs_f64()));
            let spans = (now - t0).as_secs_f64() / span_real.as_secs_f64();
            if spans < 1.0 {
                continue;
            }
            let Some((ratio, broker, real)) = envelope_ratio(&samples, speed) else { continue };
            let off = (ratio - f64::from(speed)).abs() / f64::from(speed);
            if speed_holds(ratio, speed) || off > NOISY || spans >= f64::from(PROOF_SPANS) {
                link.goodbye(true).await;
                return Ok::<_, String>((ratio, broker, real));
            }
        }
    })
    .await;
    let (ratio, broker_secs, real) = match measured {
        Ok(Ok(m)) => m,
        Ok(Err(why)) => return Err(not(why)),
        Err(_) => {
            return Err(not(format!(
                "{UPTIME_TOPIC} did not advance {} s of broker time within {:.1} s real, as a clock ×{speed} would",
                PROOF_SPAN.as_secs(),
                bound.as_secs_f64()
            )))
        }
    };
    let proof = Proof { ratio, broker: Duration::from_secs(broker_secs), real: Duration::from_secs_f64(real) };
    if speed_holds(ratio, speed) {
        Ok(proof)
    } else {
        Err(not(format!("{UPTIME_TOPIC} advanced {broker_secs} s in {real:.2} s real (×{ratio:.2}); asked ×{speed}")))
    }
}

/// `"123 seconds"` → 123.
fn parse_uptime(payload: &[u8]) -> Option<u64> {
    std::str::from_utf8(payload).ok()?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_speed_holds_within_five_percent_and_not_beyond() {
        assert!(speed_holds(10.4, 10));
        assert!(speed_holds(9.6, 10));
        assert!(!speed_holds(10.6, 10));
        assert!(!speed_holds(1.0, 10), "a clock that did not run never passes");
        assert!(speed_holds(30.9, 30));
    }

    #[test]
    fn publishes_delayed_by_load_do_not_move_the_measured_speed() {
        // ×10: a publish every 10 s of broker time is one every second; some arrive late.
        let late = [0.0, 0.35, 0.02, 0.6, 0.0, 0.01, 0.4, 0.0, 0.6];
        let samples: Vec<(u64, f64)> = late.iter().enumerate().map(|(k, d)| (100 + 10 * k as u64, k as f64 + d)).collect();
        let (ratio, _, _) = envelope_ratio(&samples, 10).expect("enough samples");
        assert!(speed_holds(ratio, 10), "{ratio}");
        // The two plain end points read ×9.3: 80 s of broker time in 8.6 s.
        let naive = 80.0 / (samples[8].1 - samples[0].1);
        assert!(!speed_holds(naive, 10), "{naive}");
    }

    #[test]
    fn a_clock_that_did_not_run_reads_real_time_however_its_publishes_arrive() {
        let samples: Vec<(u64, f64)> = (0..6).map(|k| (100 + 10 * k as u64, 10.0 * k as f64 + 0.1 * (k % 2) as f64)).collect();
        let (ratio, _, _) = envelope_ratio(&samples, 10).expect("enough samples");
        assert!((ratio - 1.0).abs() < 0.05, "{ratio}");
        assert!(!speed_holds(ratio, 10));
    }

    #[test]
    fn the_uptime_payload_is_whole_seconds() {
        assert_eq!(parse_uptime(b"1234 seconds"), Some(1234));
        assert_eq!(parse_uptime(b"soon"), None);
    }

    #[test]
    fn the_clock_environment_preloads_the_library_at_the_speed() {
        assert_eq!(
            clock_env(PRELOAD_PATH, 10),
            [("LD_PRELOAD".to_string(), PRELOAD_PATH.to_string()), ("FAKETIME".to_string(), "+0 x10".to_string())]
        );
    }
}
