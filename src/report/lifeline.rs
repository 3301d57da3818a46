//! Lifelines: each session as a bar on one time axis, with the broker's PING, the client's
//! answer, the round trip and the end marked on it, drawn as inline SVG.
//!
//! A cell's [`Timeline`](crate::report::timeline) goes in; shapes come out ([`shapes`],
//! pure geometry a test can read), then SVG ([`svg`]). An EOF at 300 s and an OK at 330 s
//! differ at a glance: the bar's colour and length, and the end's mark (a cross against a dot).

use maud::{html, Markup};

use crate::judge::record::Party;
use crate::judge::results::CellResult;
use crate::plan::Outcome;
use crate::report::timeline::{timeline, Kind};

/// The width of the whole drawing, in SVG units.
pub const WIDTH: f64 = 760.0;
/// Where the time axis starts: room for the column names on its left.
pub const PLOT_LEFT: f64 = 170.0;
/// Where it ends.
pub const PLOT_RIGHT: f64 = 740.0;
/// One lifeline's height.
pub const ROW: f64 = 18.0;
/// The room above the first line, for the axis's labels.
pub const TOP: f64 = 22.0;

/// What a mark on a lifeline says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// The broker's WebSocket PING (above the bar).
    Ping,
    /// The client's PONG (below the bar).
    Pong,
    /// A WebSocket close frame, from either side.
    Close,
    /// The round trip that proved the session alive after the hold (a dot at its end).
    RoundTrip,
    /// The session's end, any way but OK (a cross).
    End,
}

impl MarkKind {
    /// The mark's CSS class.
    pub fn class(self) -> &'static str {
        match self {
            MarkKind::Ping => "m-ping",
            MarkKind::Pong => "m-pong",
            MarkKind::Close => "m-close",
            MarkKind::RoundTrip => "m-rt",
            MarkKind::End => "m-end",
        }
    }
}

/// One mark on a lifeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Seconds after time zero (broker time).
    pub at: f64,
    /// What it is.
    pub kind: MarkKind,
    /// Its words, shown on hover.
    pub title: String,
}

/// One session's lifeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The column's name.
    pub label: String,
    /// How the session ended.
    pub outcome: Outcome,
    /// When it ended (the hold for OK), seconds.
    pub end: f64,
    /// Its marks, in time order.
    pub marks: Vec<Mark>,
}

/// The lifeline of a cell held for `hold` seconds, from its timeline.
pub fn line(c: &CellResult, hold: f64) -> Line {
    let v = &c.verdict;
    let end = match v.outcome {
        Outcome::Ok => hold,
        _ => v.at.map_or(0.0, |a| a.as_secs_f64()),
    };
    let mut marks = Vec::new();
    for e in timeline(c, hold).events {
        let kind = match (e.kind, e.from) {
            (Kind::Ping, Party::Broker) => MarkKind::Ping,
            (Kind::Pong, Party::Client) => MarkKind::Pong,
            (Kind::Close, _) => MarkKind::Close,
            _ => continue,
        };
        let who = if e.from == Party::Broker { "broker" } else { "client" };
        marks.push(Mark { at: e.at.max(0.0), kind, title: format!("{:.1} s, {who}: {}", e.at, e.label) });
    }
    let (kind, title) = match v.outcome {
        Outcome::Ok => (MarkKind::RoundTrip, format!("{end:.1} s: alive after the hold, round trip back")),
        _ => (MarkKind::End, format!("{end:.1} s: {} — {}", v.outcome.name(), v.cause)),
    };
    marks.push(Mark { at: end, kind, title });
    Line { label: c.profile.clone(), outcome: v.outcome, end, marks }
}

/// Where the axis ends for these lines: past the longest, on a whole minute, at least 330 s.
pub fn axis_end(lines: &[Line]) -> f64 {
    let longest = lines.iter().map(|l| l.end).fold(330.0, f64::max);
    (longest / 60.0).ceil() * 60.0
}

/// The x of a time on an axis ending at `axis`.
pub fn x(at: f64, axis: f64) -> f64 {
    let at = at.clamp(0.0, axis);
    ((PLOT_LEFT + at / axis * (PLOT_RIGHT - PLOT_LEFT)) * 10.0).round() / 10.0
}

/// One shape of a drawing, in SVG units, before it is written out.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Which line (from 0).
    pub row: usize,
    /// `bar o-eof`, `m-ping` …: its CSS class.
    pub class: String,
    /// Its left edge (a bar) or its centre (a mark).
    pub x: f64,
    /// Its width (a bar; 0 for a mark).
    pub width: f64,
    /// The time it stands for (a bar: its end).
    pub at: f64,
    /// Its words on hover.
    pub title: String,
}

/// The shapes of `lines` on an axis ending at `axis`: per line its bar, then its marks.
pub fn shapes(lines: &[Line], axis: f64) -> Vec<Shape> {
    let mut out = Vec::new();
    for (row, l) in lines.iter().enumerate() {
        let x0 = x(0.0, axis);
        out.push(Shape {
            row,
            class: format!("bar o-{}", l.outcome.name().to_lowercase()),
            x: x0,
            width: ((x(l.end, axis) - x0) * 10.0).round() / 10.0,
            at: l.end,
            title: format!("{}: {} at {:.1} s", l.label, l.outcome.name(), l.end),
        });
        for m in &l.marks {
            out.push(Shape { row, class: m.kind.class().to_string(), x: x(m.at, axis), width: 0.0, at: m.at, title: m.title.clone() });
        }
    }
    out
}

fn colour(class: &str) -> &'static str {
    match class.rsplit(' ').next().unwrap_or_default() {
        "o-ok" => "#2e7d32",
        "o-eof" => "#c62828",
        "o-closed" => "#ef6c00",
        "o-timeout" => "#6a1b9a",
        "o-refused" => "#616161",
        "o-error" => "#212121",
        "m-ping" => "#1565c0",
        "m-pong" => "#00838f",
        "m-close" => "#ef6c00",
        "m-rt" => "#1b5e20",
        _ => "#b71c1c",
    }
}

/// One shape as SVG: a bar, a triangle (PING above, PONG below), a square, a dot or a cross.
fn shape_svg(s: &Shape) -> Markup {
    let mid = TOP + s.row as f64 * ROW + ROW / 2.0;
    let fill = colour(&s.class);
    let (x, at) = (s.x, format!("{:.1}", s.at));
    html! {
        @match s.class.as_str() {
            c if c.starts_with("bar") => rect class=(c) x=(x) y=(mid - 3.0) width=(s.width) height="6" rx="2" fill=(fill) data-at=(at) { title { (s.title) } },
            "m-ping" => path class="m-ping" d=(format!("M{} {}l-4 -6h8z", x, mid - 3.0)) fill=(fill) data-at=(at) { title { (s.title) } },
            "m-pong" => path class="m-pong" d=(format!("M{} {}l-4 6h8z", x, mid + 3.0)) fill=(fill) data-at=(at) { title { (s.title) } },
            "m-close" => rect class="m-close" x=(x - 3.0) y=(mid - 3.0) width="6" height="6" fill="none" stroke=(fill) stroke-width="1.5" data-at=(at) { title { (s.title) } },
            "m-rt" => circle class="m-rt" cx=(x) cy=(mid) r="4" fill=(fill) stroke="#fff" stroke-width="1" data-at=(at) { title { (s.title) } },
            _ => path class="m-end" d=(format!("M{} {}l10 10m0 -10l-10 10", x - 5.0, mid - 5.0)) stroke=(fill) stroke-width="2.5" data-at=(at) { title { (s.title) } },
        }
    }
}

/// The drawing of `lines`, one per row, on one axis (every minute marked, the 5-minute mark
/// dashed); `title` names it for a screen reader.
pub fn svg(title: &str, lines: &[Line]) -> Markup {
    let axis = axis_end(lines);
    let height = TOP + lines.len() as f64 * ROW + 6.0;
    let ticks: Vec<f64> = (0..=((axis / 60.0) as usize)).map(|m| m as f64 * 60.0).collect();
    html! {
        svg.lifelines xmlns="http://www.w3.org/2000/svg" role="img" viewBox=(format!("0 0 {WIDTH} {height}")) width=(WIDTH) height=(height) font-family="sans-serif" font-size="11" {
            title { (title) }
            @for t in &ticks {
                line x1=(x(*t, axis)) x2=(x(*t, axis)) y1=(TOP - 4.0) y2=(height - 4.0) stroke=(if *t == 300.0 { "#888" } else { "#ddd" }) stroke-dasharray=(if *t == 300.0 { "4 3" } else { "" }) {}
                text x=(x(*t, axis)) y=(TOP - 8.0) text-anchor="middle" fill="#555" { (format!("{} s", *t as u32)) }
            }
            @for (row, l) in lines.iter().enumerate() {
                text x=(PLOT_LEFT - 6.0) y=(TOP + row as f64 * ROW + ROW / 2.0 + 4.0) text-anchor="end" fill="#222" { (l.label) }
            }
            @for s in shapes(lines, axis) { (shape_svg(&s)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(json: &str) -> CellResult {
        serde_json::from_str(json).expect("the test's cell")
    }

    fn eof_at_300() -> CellResult {
        cell(r#"{"tag":"2.0.18","profile":"paho-java-1.2.5","expected":"EOF@300","status":"met","verdict":{"outcome":"EOF","at":300.0,"ended_by":"client","close_code":null,"close_reason":null,"connack_code":null,"frames":[{"at":300.0,"direction":"received","opcode":9,"payload_len":0,"masked":false}],"cause":"broker sent WebSocket PING at 300.0 s","five_minute_mark_reached":true},"client_id":null,"started_at":"","ended_at":""}"#)
    }

    fn ok_at_330() -> CellResult {
        cell(r#"{"tag":"2.0.18","profile":"rfc6455","expected":"OK","status":"met","verdict":{"outcome":"OK","at":330.0,"ended_by":null,"close_code":null,"close_reason":null,"connack_code":null,"frames":[{"at":300.0,"direction":"received","opcode":9,"payload_len":0,"masked":false},{"at":300.001,"direction":"sent","opcode":10,"payload_len":0,"masked":true}],"cause":"alive after the 330.0 s hold","five_minute_mark_reached":true},"client_id":null,"started_at":"","ended_at":""}"#)
    }

    #[test]
    fn an_eof_at_300_s_and_an_ok_at_330_s_end_in_different_marks_at_their_own_x() {
        let lines = [line(&eof_at_300(), 330.0), line(&ok_at_330(), 330.0)];
        let axis = axis_end(&lines);
        assert_eq!(axis, 360.0);
        let s = shapes(&lines, axis);
        let find = |row: usize, class: &str| s.iter().find(|s| s.row == row && s.class == class).unwrap_or_else(|| panic!("no {class} on row {row}: {s:?}"));
        let (eof_bar, ok_bar) = (find(0, "bar o-eof"), find(1, "bar o-ok"));
        assert_eq!(eof_bar.x + eof_bar.width, x(300.0, axis));
        assert_eq!(ok_bar.x + ok_bar.width, x(330.0, axis));
        assert!(ok_bar.width - eof_bar.width > 40.0, "30 s must be visible: {} vs {}", ok_bar.width, eof_bar.width);
        assert_eq!(find(0, "m-end").x, x(300.0, axis));
        assert_eq!(find(1, "m-rt").x, x(330.0, axis));
        assert!(!s.iter().any(|s| s.row == 0 && s.class == "m-rt") && !s.iter().any(|s| s.row == 1 && s.class == "m-end"));
        // Both saw the broker's PING at 300 s; only the OK answered it.
        assert_eq!(find(0, "m-ping").x, x(300.0, axis));
        assert_eq!(find(1, "m-ping").x, x(300.0, axis));
        assert!(!s.iter().any(|s| s.row == 0 && s.class == "m-pong"));
        assert_eq!(find(1, "m-pong").x, x(300.001, axis));
        let drawn = svg("2.0.18", &lines).into_string();
        assert!(drawn.contains(&format!(r##"class="bar o-eof" x="{}" y="{}" width="{}""##, eof_bar.x, TOP + ROW / 2.0 - 3.0, eof_bar.width)), "{drawn}");
        assert!(drawn.contains(r#"<circle class="m-rt""#) && drawn.contains(r#"<path class="m-end""#), "{drawn}");
        assert_ne!(colour("bar o-eof"), colour("bar o-ok"));
    }
}
