//! The terminal view that fits: the summary first, then the grid with short cell codes and
//! stacked column heads, identical consecutive rows folded into one line
//! (`2.0.12–2.0.22 ┆ as 2.0.11`), every line at most [`TERMINAL_WIDTH`] columns wide. The
//! files keep the full grid (`text::table_wide` is `--format table-wide`).

use unicode_width::UnicodeWidthStr;

use crate::judge::record::Direction;
use crate::judge::results::{CellResult, RunResult, Status, TagResult};
use crate::plan::{Outcome, Version};
use crate::plan::route::split_key;
use crate::report::summary::{release_line, release_order, summarize, Summary};
use crate::report::wording::{broker_failure_text, digest_change_text, proxy_failure_text, ran_words, run_line};
use crate::wire::frame::opcode;

/// The widest line the terminal view prints.
pub const TERMINAL_WIDTH: usize = 120;

/// A cell as a code of at most five characters: `ok`, `okP`, `E300`, `E<CA`, `C12`, `T90`,
/// `REF`, `ERR`, with `!` when it differs from matrix.toml.
pub fn code(c: &CellResult) -> String {
    let v = &c.verdict;
    let secs = v.at.map_or(String::new(), |a| format!("{}", a.as_secs_f64().round() as u64));
    let when = if v.before_connack { "<CA".to_string() } else { secs };
    let mut code = match v.outcome {
        Outcome::Ok if v.frames.iter().any(|f| f.direction == Direction::Received && f.opcode == opcode::PING) => "okP".to_string(),
        Outcome::Ok => "ok".to_string(),
        Outcome::Eof => format!("E{when}"),
        Outcome::Closed => format!("C{when}"),
        Outcome::Timeout => format!("T{when}"),
        Outcome::Refused => "REF".to_string(),
        Outcome::Error => "ERR".to_string(),
    };
    if c.status == Status::Changed {
        code.push('!');
    }
    code
}

/// What the codes mean, for the line under the grid.
pub const LEGEND: &str = "ok alive through the hold, proven by a round trip · okP the same, after the broker's WebSocket PING · \
E300 EOF (no close frame) at 300 s · E<CA EOF before CONNACK · C… CLOSED by the broker · T… TIMEOUT · REF REFUSED · \
ERR not run · ! differs from matrix.toml · — not in this run";

/// Words wrapped to `width` display columns; the text's own leading spaces start the first
/// line, `indent` the others. A word too long for a line is cut.
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let lead = &text[..text.len() - text.trim_start_matches(' ').len()];
    let mut lines = Vec::new();
    let mut line = lead.to_string();
    let mut empty = true;
    let room = width.saturating_sub(indent.width()).max(8);
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word = word.to_string();
        loop {
            if !empty && line.width() + 1 + word.width() > width {
                lines.push(std::mem::replace(&mut line, indent.to_string()));
                empty = true;
            }
            if word.width() <= room || !empty {
                break;
            }
            let cut: String = word.chars().take(room).collect();
            word = word.chars().skip(room).collect();
            line.push_str(&cut);
            lines.push(std::mem::replace(&mut line, indent.to_string()));
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(&word);
        empty = false;
    }
    if !empty {
        lines.push(line);
    }
    lines
}

/// The summary as terminal lines, wrapped to [`TERMINAL_WIDTH`].
pub fn summary_lines(s: &Summary) -> Vec<String> {
    let mut out = vec![format!("Summary over {}:", s.tags)];
    let w = TERMINAL_WIDTH;
    for c in &s.columns {
        out.extend(wrap(&c.sentence(), w, "    "));
        for f in &c.failures {
            if let Some(k) = &f.known {
                out.extend(wrap(&format!("  {} ({}) {}", k.words(), f.tags, k.url()), w, "    "));
            }
        }
        match &c.advice_as {
            Some(other) => out.push(format!("  what to do: as for {other}")),
            None => c.advice.iter().for_each(|a| out.extend(wrap(&format!("  what to do on {a}"), w, "    "))),
        }
        for f in &c.failures {
            out.extend(wrap(&format!("  evidence, {}", f.example), w, "    "));
        }
    }
    if !s.all_hold.is_empty() {
        out.extend(wrap(&format!("Hold on every tag{}: {}.", ran_words(s), s.all_hold.join(", ")), w, "    "));
    }
    if !s.not_run.is_empty() {
        out.extend(wrap(&format!("Not run: {} (the broker could not be had; see below).", s.not_run), w, "    "));
    }
    out
}

/// A column head stacked on up to three lines, each part at most `cap` wide:
/// `paho`/`java`/`1.2.5` for the built-in profile, `paho`/`java`/`@1.2.5` for a client's version.
fn head(name: &str, cap: usize) -> Vec<String> {
    let (base, version) = match name.split_once('@') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    let mut parts: Vec<String> = base.split('-').map(|p| p.chars().take(cap).collect()).collect();
    let room = if version.is_some() { 2 } else { 3 };
    while parts.len() > room {
        let last = parts.pop().unwrap_or_default();
        if let Some(p) = parts.last_mut() {
            *p = format!("{p}-{last}").chars().take(cap).collect();
        }
    }
    if let Some(v) = version {
        parts.push(version_part(v, cap));
    }
    parts
}

/// `@5.16.0`, shortened to fit: `@5.16` (trailing `.0` dropped), else the version cut.
fn version_part(version: &str, cap: usize) -> String {
    let mut v = version;
    while v.chars().count() + 1 > cap {
        match v.strip_suffix(".0") {
            Some(shorter) => v = shorter,
            None => break,
        }
    }
    if v.chars().count() < cap {
        format!("@{v}")
    } else {
        v.chars().take(cap).collect()
    }
}

/// `4.3.5` from `4.3.5-1+deb13u3`, `—` when the image records none.
fn short_lws(t: &TagResult) -> String {
    t.image.lws_version.as_deref().map_or("—".to_string(), |v| v.split(['-', '+']).next().unwrap_or(v).to_string())
}

fn short_sys(t: &TagResult) -> String {
    t.broker_version.as_deref().map_or("?".to_string(), |s| s.trim_start_matches("mosquitto version ").to_string())
}

struct Block {
    heads: Vec<Vec<String>>,
    widths: Vec<usize>,
    columns: Vec<usize>,
}

/// The grid's rows before layout: the meta heads (`tag`, `$SYS` where it says more than the
/// tag does, `lws`), each tag's meta cells and cell codes in release order, and how wide each
/// meta column is.
struct Rows {
    meta_heads: Vec<String>,
    rows: Vec<(Vec<String>, Vec<String>)>,
    meta_widths: Vec<usize>,
}

fn grid_rows(r: &RunResult, order: &[&TagResult]) -> Rows {
    // $SYS only where it says more than the tag does.
    let sys_says_more = order.iter().any(|t| Version::find(&t.tag).map(|v| v.to_string()) != t.broker_version.as_deref().and_then(Version::find).map(|v| v.to_string()));
    let mut meta_heads = vec!["tag".to_string()];
    if sys_says_more {
        meta_heads.push("$SYS".to_string());
    }
    meta_heads.push("lws".to_string());
    let rows: Vec<(Vec<String>, Vec<String>)> = order
        .iter()
        .map(|t| {
            let mut meta = vec![if r.cells.iter().any(|c| c.tag == t.tag && c.status == Status::New) { format!("{} (new)", t.tag) } else { t.tag.clone() }];
            if sys_says_more {
                meta.push(short_sys(t));
            }
            meta.push(short_lws(t));
            let codes = r.profiles.iter().map(|p| r.cell(&t.tag, p).map_or("—".to_string(), code)).collect();
            (meta, codes)
        })
        .collect();
    let meta_widths: Vec<usize> =
        (0..meta_heads.len()).map(|i| rows.iter().map(|(m, _)| m[i].width()).chain([meta_heads[i].width()]).max().unwrap_or(0)).collect();
    Rows { meta_heads, rows, meta_widths }
}

/// The run's columns laid out in blocks that fit [`TERMINAL_WIDTH`], and how many meta columns
/// are shown. Stacked heads are narrowed until everything fits in one block; the lws column
/// (last of the meta columns, said in the summary) gives way before heads narrower than 6;
/// past that the columns are split into blocks.
fn fit_blocks(r: &RunResult, rows: &Rows) -> (Vec<Block>, usize) {
    let meta_width: usize = rows.meta_widths.iter().map(|w| w + 1).sum::<usize>() + 2;
    let code_width = |i: usize| rows.rows.iter().map(|(_, c)| c[i].width()).max().unwrap_or(1);
    let lws_width = rows.meta_widths.last().map_or(0, |w| w + 1);
    let mut blocks: Vec<Block> = Vec::new();
    let mut show_lws = true;
    for (with_lws, cap) in [(true, 8), (true, 7), (true, 6), (false, 8), (false, 7), (false, 6), (false, 5)] {
        blocks.clear();
        show_lws = with_lws;
        let start = if with_lws { meta_width } else { meta_width - lws_width };
        let mut current = Block { heads: vec![], widths: vec![], columns: vec![] };
        let mut used = start;
        for (i, p) in r.profiles.iter().enumerate() {
            // On a run with routes the route stands over its group of columns, not in each head.
            let h = head(split_key(p).1, cap);
            let w = h.iter().map(|s| s.width()).max().unwrap_or(1).max(code_width(i));
            if used + w + 1 > TERMINAL_WIDTH && !current.columns.is_empty() {
                blocks.push(std::mem::replace(&mut current, Block { heads: vec![], widths: vec![], columns: vec![] }));
                used = start;
            }
            used += w + 1;
            current.heads.push(h);
            current.widths.push(w);
            current.columns.push(i);
        }
        blocks.push(current);
        if blocks.len() == 1 {
            break;
        }
    }
    let shown_meta = if show_lws { rows.meta_widths.len() } else { rows.meta_widths.len() - 1 };
    (blocks, shown_meta)
}

/// A block's head: the route line on a run with routes, then the stacked heads.
fn head_lines(r: &RunResult, b: &Block, rows: &Rows, shown_meta: usize) -> Vec<String> {
    let mut out = Vec::new();
    let depth = b.heads.iter().map(Vec::len).max().unwrap_or(1);
    if r.has_routes() {
        out.push(route_line(r, b, &rows.meta_widths[..shown_meta]));
    }
    for level in 0..depth {
        let mut line = String::new();
        for (i, w) in rows.meta_widths.iter().enumerate().take(shown_meta) {
            let text = if level == 0 { rows.meta_heads[i].as_str() } else { "" };
            line.push_str(&pad(text, *w));
            line.push(' ');
        }
        line.push_str("│ ");
        for (h, w) in b.heads.iter().zip(&b.widths) {
            line.push_str(&pad(h.get(level).map_or("", String::as_str), *w));
            line.push(' ');
        }
        out.push(line.trim_end().to_string());
    }
    out
}

/// A block's rows, a row like the last one shown folded into it within a release line
/// (`2.0.12–2.0.22 ┆ as 2.0.11`).
fn body_lines(b: &Block, rows: &Rows, order: &[&TagResult], shown_meta: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut shown: Option<usize> = None;
    let mut folded: Vec<usize> = Vec::new();
    let flush = |out: &mut Vec<String>, folded: &mut Vec<usize>, shown: Option<usize>| {
        if let (Some(first), Some(last), Some(s)) = (folded.first(), folded.last(), shown) {
            let span = if first == last { order[*first].tag.clone() } else { format!("{}–{}", order[*first].tag, order[*last].tag) };
            out.push(format!("{span} ┆ as {}", order[s].tag));
        }
        folded.clear();
    };
    for (ri, (meta, codes)) in rows.rows.iter().enumerate() {
        if let Some(s) = shown {
            if rows.rows[s].1 == *codes && !meta[0].ends_with("(new)") && release_line(order[s]) == release_line(order[ri]) {
                folded.push(ri);
                continue;
            }
        }
        flush(&mut out, &mut folded, shown);
        let mut line = String::new();
        for (m, w) in meta.iter().zip(&rows.meta_widths).take(shown_meta) {
            line.push_str(&pad(m, *w));
            line.push(' ');
        }
        line.push_str("│ ");
        for (ci, w) in b.columns.iter().zip(&b.widths) {
            line.push_str(&pad(&codes[*ci], *w));
            line.push(' ');
        }
        out.push(line.trim_end().to_string());
        shown = Some(ri);
    }
    flush(&mut out, &mut folded, shown);
    out
}

/// The grid as lines: meta columns, then the run's columns in as many blocks as it takes to
/// stay within the width.
pub fn grid_lines(r: &RunResult) -> Vec<String> {
    let order = release_order(r);
    let rows = grid_rows(r, &order);
    let (blocks, shown_meta) = fit_blocks(r, &rows);
    let mut out = Vec::new();
    for (bi, b) in blocks.iter().enumerate() {
        if bi > 0 {
            out.push(String::new());
        }
        out.extend(head_lines(r, b, &rows, shown_meta));
        out.extend(body_lines(b, &rows, &order, shown_meta));
    }
    out
}

/// The line over a block's heads that names each route over its group of columns:
/// `route ┆ direct ┆ tls ┆ nginx`, each name as wide as its group (cut to fit).
fn route_line(r: &RunResult, b: &Block, meta_widths: &[usize]) -> String {
    let meta: usize = meta_widths.iter().map(|w| w + 1).sum();
    let mut line = pad("route", meta);
    line.push_str("│ ");
    let mut i = 0;
    while i < b.columns.len() {
        let route = split_key(&r.profiles[b.columns[i]]).0;
        let mut width = 0;
        let mut j = i;
        while j < b.columns.len() && split_key(&r.profiles[b.columns[j]]).0 == route {
            width += b.widths[j] + 1;
            j += 1;
        }
        let name: String = route.chars().take(width.saturating_sub(1).max(1)).collect();
        line.push_str(&pad(&name, width));
        i = j;
    }
    line.trim_end().to_string()
}

fn pad(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(text.width())))
}

/// The terminal view: the run's line, the summary, the grid, what its codes mean, and the
/// notes said once per tag (brokers that could not be had, digests that changed).
pub fn view(r: &RunResult) -> String {
    let w = TERMINAL_WIDTH;
    let mut lines = wrap(&run_line(r), w, "    ");
    lines.push(String::new());
    lines.extend(summary_lines(&summarize(r)));
    lines.push(String::new());
    lines.extend(grid_lines(r));
    lines.extend(wrap(LEGEND, w, "    "));
    for t in &r.tags {
        for note in [broker_failure_text(r, t), digest_change_text(t)].into_iter().flatten() {
            lines.extend(wrap(&note, w, "    "));
        }
        for note in t.proxies.iter().filter_map(|p| proxy_failure_text(r, t, p)) {
            lines.extend(wrap(&note, w, "    "));
        }
    }
    lines.extend(wrap("Every cell's cause and its wire timeline: --format table-wide, and the .md and .html reports (--out).", w, "    "));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_lines_stay_within_the_width_keep_the_lead_indent_the_rest_and_cut_a_word_too_long() {
        let text = format!("  evidence, {} and {}", "word ".repeat(40), "x".repeat(150));
        let lines = wrap(&text, 40, "    ");
        assert!(lines.iter().all(|l| l.width() <= 40), "{lines:#?}");
        assert!(lines[0].starts_with("  evidence,"), "{lines:#?}");
        assert!(lines[1..].iter().all(|l| l.starts_with("    ")), "{lines:#?}");
        assert_eq!(lines.concat().matches('x').count(), 150, "nothing is lost: {lines:#?}");
    }

    #[test]
    fn a_column_head_stacks_its_parts_on_at_most_three_lines() {
        assert_eq!(head("paho-java-1.2.5", 7), ["paho", "java", "1.2.5"]);
        assert_eq!(head("paho-java@1.2.5", 6), ["paho", "java", "@1.2.5"]);
        assert_eq!(head("mqttjs@5.16.0", 6), ["mqttjs", "@5.16"]);
        assert_eq!(head("paho-python@2.1.0", 5), ["paho", "pytho", "@2.1"]);
        assert_eq!(head("unmasked-pong", 6), ["unmask", "pong"]);
        assert_eq!(head("a-b-c-d", 7), ["a", "b", "c-d"]);
    }
}
