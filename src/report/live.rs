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

/// One bar per cell, and the tags whose images are being pulled.
struct Bars {
    bars: HashMap<String, (ProgressBar, Option<Instant>)>,
    pulling: HashMap<String, (String, Instant)>,
    done: ProgressStyle,
    /// The bars count real time; their words say broker time, which is real × speed.
    speed: f64,
    hold: Duration,
}

impl Bars {
    fn new(multi: &MultiProgress, plan: &Plan) -> Bars {
        let speed = f64::from(plan.speed);
        let hold_ms = plan.timing.hold.div_f64(speed).as_millis() as u64;
        let counting = ProgressStyle::with_template("{prefix:<32} [{bar:30}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let done = ProgressStyle::with_template("{prefix:<32} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
        let mut bars = HashMap::new();
        for cell in &plan.cells {
            let bar = multi.add(ProgressBar::new(hold_ms));
            bar.set_style(counting.clone());
            bar.set_prefix(cell.id());
            bar.set_message("waiting for the broker");
            bars.insert(cell.id(), (bar, None));
        }
        Bars { bars, pulling: HashMap::new(), done, speed, hold: plan.timing.hold }
    }

    /// The bars of a tag's cells.
    fn of_tag<'a>(&'a self, tag: &str) -> impl Iterator<Item = &'a ProgressBar> + 'a {
        let prefix = format!("{tag}/");
        self.bars.iter().filter(move |(id, _)| id.starts_with(&prefix)).map(|(_, (b, _))| b)
    }

    fn on(&mut self, p: Progress) {
        match p {
            Progress::BrokerStarting { tag } => self.of_tag(&tag).for_each(|b| b.set_message("starting the broker (pulling the image if needed)")),
            Progress::Pulling { tag, image } => {
                self.pulling.insert(tag, (image, Instant::now()));
            }
            Progress::BrokerReady { tag, .. } => {
                self.pulling.remove(&tag);
                self.of_tag(&tag).for_each(|b| b.set_message("queued: waiting for room to start"));
            }
            Progress::CellStarting { id } => {
                if let Some((b, _)) = self.bars.get(&id) {
                    b.set_message("starting the client");
                }
            }
            Progress::CellHolding { id } => {
                if let Some((b, start)) = self.bars.get_mut(&id) {
                    *start = Some(Instant::now());
                    b.set_message("holding");
                }
            }
            // A proxy that failed: its cells say it when they finish.
            Progress::Load(_) | Progress::ProxyReady { .. } | Progress::ProxyFailed { .. } => {}
            Progress::BrokerFailed { tag, why } => {
                self.pulling.remove(&tag);
                self.of_tag(&tag).for_each(|b| {
                    b.set_style(self.done.clone());
                    b.finish_with_message(format!("⚠ ERROR: {why}"));
                });
            }
            Progress::CellFinished(c) => {
                if let Some((b, _)) = self.bars.get(&c.id()) {
                    b.set_style(self.done.clone());
                    b.finish_with_message(cell_text(&c));
                }
            }
        }
    }

    /// Moves every holding bar on, and says how long each pull has taken.
    fn tick(&self) {
        for (tag, (image, since)) in &self.pulling {
            self.of_tag(tag).for_each(|b| b.set_message(format!("pulling {image} ({})", fmt_secs(since.elapsed()))));
        }
        for (b, start) in self.bars.values() {
            if let (Some(s), false) = (start, b.is_finished()) {
                let e = s.elapsed();
                b.set_position(e.as_millis() as u64);
                b.set_message(format!("{} / {}", fmt_secs(e.mul_f64(self.speed)), fmt_secs(self.hold)));
            }
        }
    }
}

/// Shows one line per cell until the run's sender is dropped.
pub async fn terminal(mut rx: UnboundedReceiver<Progress>, plan: &Plan) {
    let multi = MultiProgress::new();
    let mut bars = Bars::new(&multi, plan);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            p = rx.recv() => match p {
                None => break,
                Some(p) => bars.on(p),
            },
            _ = tick.tick() => bars.tick(),
        }
    }
    let _ = multi.clear();
}
