//! Live progress on a terminal: one line per cell counting up to the hold, turning into
//! the verdict the moment the cell ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::plan::Plan;
use crate::report::cell_text;
use crate::run::Progress;
use crate::units::fmt_secs;

/// Shows one line per cell until the run's sender is dropped.
pub async fn terminal(mut rx: UnboundedReceiver<Progress>, plan: &Plan) {
    let multi = MultiProgress::new();
    // The bars count real time; their words say broker time, which is real × speed.
    let speed = f64::from(plan.speed);
    let hold_ms = plan.timing.hold.div_f64(speed).as_millis() as u64;
    let counting = ProgressStyle::with_template("{prefix:<32} [{bar:30}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let done = ProgressStyle::with_template("{prefix:<32} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut bars: HashMap<String, (ProgressBar, Option<Instant>)> = HashMap::new();
    let mut pulling: HashMap<String, (String, Instant)> = HashMap::new();
    for cell in &plan.cells {
        let bar = multi.add(ProgressBar::new(hold_ms));
        bar.set_style(counting.clone());
        bar.set_prefix(cell.id());
        bar.set_message("waiting for the broker");
        bars.insert(cell.id(), (bar, None));
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            p = rx.recv() => match p {
                None => break,
                Some(Progress::BrokerStarting { tag }) => {
                    for (_, (b, _)) in bars.iter().filter(|(id, _)| id.starts_with(&format!("{tag}/"))) {
                        b.set_message("starting the broker (pulling the image if needed)");
                    }
                }
                Some(Progress::Pulling { tag, image }) => {
                    pulling.insert(tag, (image, Instant::now()));
                }
                Some(Progress::BrokerReady { tag, .. }) => {
                    pulling.remove(&tag);
                    for (_, (b, _)) in bars.iter_mut().filter(|(id, _)| id.starts_with(&format!("{tag}/"))) {
                        b.set_message("queued: waiting for room to start");
                    }
                }
                Some(Progress::CellStarting { id }) => {
                    if let Some((b, _)) = bars.get(&id) {
                        b.set_message("starting the client");
                    }
                }
                Some(Progress::CellHolding { id }) => {
                    if let Some((b, start)) = bars.get_mut(&id) {
                        *start = Some(Instant::now());
                        b.set_message("holding");
                    }
                }
                Some(Progress::Load(_) | Progress::ProxyReady { .. }) => {}
                // Its cells say it when they finish.
                Some(Progress::ProxyFailed { .. }) => {}
                Some(Progress::BrokerFailed { tag, why }) => {
                    pulling.remove(&tag);
                    for (_, (b, _)) in bars.iter().filter(|(id, _)| id.starts_with(&format!("{tag}/"))) {
                        b.set_style(done.clone());
                        b.finish_with_message(format!("⚠ ERROR: {why}"));
                    }
                }
                Some(Progress::CellFinished(c)) => {
                    if let Some((b, _)) = bars.get(&c.id()) {
                        b.set_style(done.clone());
                        b.finish_with_message(cell_text(&c));
                    }
                }
            },
            _ = tick.tick() => {
                for (tag, (image, since)) in &pulling {
                    for (_, (b, _)) in bars.iter().filter(|(id, _)| id.starts_with(&format!("{tag}/"))) {
                        b.set_message(format!("pulling {image} ({})", fmt_secs(since.elapsed())));
                    }
                }
                for (b, start) in bars.values() {
                    if let (Some(s), false) = (start, b.is_finished()) {
                        let e = s.elapsed();
                        b.set_position(e.as_millis() as u64);
                        b.set_message(format!("{} / {}", fmt_secs(e.mul_f64(speed)), fmt_secs(plan.timing.hold)));
                    }
                }
            }
        }
    }
    let _ = multi.clear();
}
