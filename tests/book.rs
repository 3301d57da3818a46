//! The book (`docs/`) and the top-level Markdown files hold together, without building them.
//!
//! - Every chapter in `docs/src/` is listed in `SUMMARY.md`, and every entry there exists.
//! - Every relative link in `docs/src/*.md`, `README.md`, `CONTRIBUTING.md` and `CHANGELOG.md`
//!   resolves: the file exists, and an `#anchor` is a heading of that Markdown file (ids made
//!   as mdBook makes them). Links with a scheme (`https:`, `mailto:`) are not followed.
//! - Every error text in `src/` is listed in `docs/src/troubleshooting.md`. "Error text" means
//!   precisely: the string literal of each `#[error("…")]` attribute, with each `{…}`
//!   placeholder read as `…` and adjacent placeholders as one; a text with no word of three
//!   letters outside its placeholders (`{0}`, `{file}:{line}: {what}`) only wraps another and
//!   is left out.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of a Markdown text outside fenced code blocks, with their numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence = false;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if !fence {
            out.push((n + 1, line));
        }
    }
    out
}

/// A heading's id as mdBook makes it: letters and digits lowercased, `-` and `_` kept,
/// whitespace turned into `-`, everything else dropped (inline code and link text count as
/// their text).
fn heading_id(heading: &str) -> String {
    let text = strip_links(heading).replace('`', "");
    text.trim()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c.to_lowercase().next().unwrap_or(c)),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

/// `[text](url)` → `text`.
fn strip_links(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find("](").and_then(|j| after[j + 2..].find(')').map(|k| (j, j + 2 + k))) {
            Some((j, end)) => {
                out.push_str(&after[..j]);
                rest = &after[end + 1..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every heading id of a Markdown text; a repeated id gets `-1`, `-2` … as in mdBook.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let id = heading_id(&line[hashes..]);
            let mut unique = id.clone();
            let mut n = 1;
            while ids.contains(&unique) {
                unique = format!("{id}-{n}");
                n += 1;
            }
            ids.insert(unique);
        }
    }
    ids
}

/// Every link target `](target)` in the text outside code, with its line number.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    // Link text may span lines: scan the prose as one string, counting newlines.
    let mut prose = String::new();
    let mut numbers = Vec::new();
    for (n, line) in prose_lines(text) {
        // Inline code is not a link: drop `…` spans.
        let mut kept = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                kept.push_str(part);
            }
        }
        prose.push_str(&kept);
        prose.push('\n');
        numbers.push(n);
    }
    let mut line_of = Vec::with_capacity(prose.len());
    let mut idx = 0;
    for ch in prose.chars() {
        for _ in 0..ch.len_utf8() {
            line_of.push(numbers.get(idx).copied().unwrap_or(0));
        }
        if ch == '\n' {
            idx += 1;
        }
    }
    let mut from = 0;
    while let Some(i) = prose[from..].find("](") {
        let start = from + i + 2;
        let end = prose[start..].find(|c: char| c == ')' || c.is_whitespace()).map_or(prose.len(), |e| start + e);
        out.push((line_of.get(start).copied().unwrap_or(0), prose[start..end].to_string()));
        from = end;
    }
    out
}

/// What is wrong with each relative link of `file` (whose text is `text`): a missing file or
/// an anchor that is no heading of its target.
fn broken_links(file: &Path, text: &str) -> Vec<String> {
    let dir = file.parent().expect("a file in a folder");
    let mut wrong = Vec::new();
    for (line, target) in links(text) {
        if target.contains(':') || target.is_empty() {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        let resolved = if path.is_empty() { file.to_path_buf() } else { dir.join(path) };
        if !resolved.exists() {
            wrong.push(format!("{}:{line}: {target}: no file {}", file.display(), resolved.display()));
            continue;
        }
        if let Some(anchor) = anchor {
            if resolved.extension().is_some_and(|e| e == "md") {
                let ids = anchors(&read(&resolved));
                if !ids.contains(anchor) {
                    wrong.push(format!("{}:{line}: {target}: no heading #{anchor} in {}", file.display(), resolved.display()));
                }
            }
        }
    }
    wrong
}

fn chapters() -> Vec<PathBuf> {
    let dir = root().join("docs/src");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_internal_link_of_the_book_and_the_readme_resolves() {
    let mut files = chapters();
    for top in ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"] {
        files.push(root().join(top));
    }
    let wrong: Vec<String> = files.iter().flat_map(|f| broken_links(f, &read(f))).collect();
    assert!(wrong.is_empty(), "broken links:\n{}", wrong.join("\n"));
}

#[test]
fn every_chapter_is_in_the_summary_and_every_summary_entry_exists() {
    let summary = read(&root().join("docs/src/SUMMARY.md"));
    let listed: BTreeSet<String> = links(&summary).into_iter().map(|(_, t)| t).collect();
    let present: BTreeSet<String> = chapters()
        .iter()
        .map(|p| p.file_name().expect("a name").to_string_lossy().to_string())
        .filter(|n| n != "SUMMARY.md")
        .collect();
    let unlisted: Vec<&String> = present.difference(&listed).collect();
    let missing: Vec<&String> = listed.difference(&present).collect();
    assert!(unlisted.is_empty(), "chapters not in docs/src/SUMMARY.md: {unlisted:?}");
    assert!(missing.is_empty(), "docs/src/SUMMARY.md lists chapters that do not exist: {missing:?}");
}

#[test]
fn the_readme_stays_under_200_lines() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(lines <= 200, "README.md has {lines} lines; move the rest into a chapter of docs/src/");
}

/// Every `#[error("…")]` text under `dir`, as the troubleshooting chapter writes it, with
/// where it is.
fn error_texts(dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("an entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            error_texts(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            for (n, line) in read(&path).lines().enumerate() {
                if let Some(text) = error_literal(line).and_then(|l| written_as(&l)) {
                    out.push((format!("{}:{}", path.display(), n + 1), text));
                }
            }
        }
    }
}

/// The string literal of a `#[error("…")]` line, unescaped.
fn error_literal(line: &str) -> Option<String> {
    let start = line.find("#[error(\"")? + "#[error(\"".len();
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// The literal with its placeholders as `…` (`{{`/`}}` are braces); `None` for a wrapper.
fn written_as(literal: &str) -> Option<String> {
    let mut out = String::new();
    let mut own = String::new();
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                }
                if !out.ends_with('…') {
                    out.push('…');
                }
                own.push(' ');
            }
            c => {
                out.push(c);
                own.push(c);
            }
        }
    }
    let has_word = own.split(|c: char| !c.is_alphabetic()).any(|w| w.chars().count() >= 3);
    has_word.then_some(out)
}

#[test]
fn the_troubleshooting_chapter_lists_every_error_text_in_src() {
    let chapter = read(&root().join("docs/src/troubleshooting.md"));
    let mut texts = Vec::new();
    error_texts(&root().join("src"), &mut texts);
    assert!(texts.len() > 30, "found only {} error texts in src/: is the scanner broken?", texts.len());
    let missing: Vec<String> = texts
        .iter()
        .filter(|(_, t)| !chapter.contains(t.as_str()))
        .map(|(at, t)| format!("{at}: `{t}`"))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/src/troubleshooting.md lacks these error texts (write each exactly so, with its fix):\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_reason_a_verdict_rests_on_is_in_the_reports_chapter() {
    let verdict = read(&root().join("src/judge/verdict.rs"));
    let body = verdict.split("pub enum Reason").nth(1).and_then(|b| b.split("\n}\n").next()).expect("judge::verdict::Reason");
    let variants: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| l.chars().next().is_some_and(char::is_uppercase))
        .map(|l| l.split([' ', '{', ',', '(']).next().unwrap_or(""))
        .collect();
    assert!(variants.len() > 10, "found only {variants:?}: is the scanner broken?");
    let chapter = read(&root().join("docs/src/reports.md"));
    let missing: Vec<&&str> = variants.iter().filter(|v| !chapter.contains(&format!("| `{v}` |"))).collect();
    assert!(missing.is_empty(), "docs/src/reports.md, \"Why a cell ended\", lacks the reasons {missing:?}");
}

/// The JSON field names of a struct: its `pub` fields, less `#[serde(skip)]` ones.
fn json_fields(source: &str, name: &str) -> Vec<String> {
    let start = source.find(&format!("pub struct {name} {{")).unwrap_or_else(|| panic!("no struct {name}"));
    let body = source[start..].split("\n}\n").next().unwrap_or("");
    let mut fields = Vec::new();
    let mut skip = false;
    for line in body.lines().skip(1).map(str::trim) {
        if line.starts_with("#[serde(skip)]") {
            skip = true;
        } else if let Some(field) = line.strip_prefix("pub ").and_then(|l| l.split_once(':')).map(|(f, _)| f) {
            if !skip {
                fields.push(field.to_string());
            }
            skip = false;
        }
    }
    fields
}

#[test]
fn every_field_of_the_json_report_is_in_the_schema() {
    let chapter = read(&root().join("docs/src/reports.md"));
    let schema = chapter.split("## The JSON schema").nth(1).expect("docs/src/reports.md has \"## The JSON schema\"");
    let mut missing = Vec::new();
    for (file, structs) in [
        ("src/judge/results.rs", &["RunResult", "TagResult", "CellResult"][..]),
        ("src/judge/verdict.rs", &["Verdict"][..]),
        ("src/judge/record.rs", &["ClientProcess"][..]),
    ] {
        let source = read(&root().join(file));
        for s in structs {
            let fields = json_fields(&source, s);
            assert!(!fields.is_empty(), "{file}: no fields found in {s}");
            missing.extend(fields.into_iter().filter(|f| !schema.contains(&format!("| `{f}` |"))).map(|f| format!("{s}.{f}")));
        }
    }
    assert!(missing.is_empty(), "docs/src/reports.md, \"The JSON schema\", lacks: {missing:?}");
}

#[test]
fn an_error_text_reads_with_its_placeholders_as_ellipses() {
    let line = r#"    #[error("the {libc} build is not at {path}: run `x`, {{literal}} {a}{b}")]"#;
    let literal = error_literal(line).expect("a literal");
    assert_eq!(written_as(&literal).as_deref(), Some("the … build is not at …: run `x`, {literal} …"));
    assert_eq!(written_as("{image}: {why}{}"), None, "a wrapper has no words of its own");
    assert_eq!(error_literal(r#"#[error("say \"hi\" {0}")]"#).as_deref(), Some(r#"say "hi" {0}"#));
}

#[test]
fn a_link_to_a_missing_heading_or_file_is_found() {
    let dir = std::env::temp_dir().join(format!("book-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let other = dir.join("other.md");
    std::fs::write(&other, "# Other\n\n## The `matrix.toml` file\n\n## Repeated\n\n## Repeated\n").expect("written");
    let me = dir.join("me.md");
    let text = "# Me\n\n[ok](other.md#the-matrixtoml-file) [twice](other.md#repeated-1) [self](#me)\n\
                [bad anchor](other.md#nowhere) [bad file](gone.md)\n```\n[in code](nowhere.md)\n```\n\
                `[inline](nowhere.md)` [web](https://example.org/x)\n[split\nlink](#me)\n";
    std::fs::write(&me, text).expect("written");
    let wrong = broken_links(&me, text);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(wrong[0].ends_with(&format!("me.md:4: other.md#nowhere: no heading #nowhere in {}", other.display())), "{wrong:?}");
    assert!(wrong[1].contains("me.md:4: gone.md: no file"), "{wrong:?}");
}

#[test]
fn the_book_and_the_contributing_guide_quote_each_rule_as_the_code_has_it() {
    use mosquitto_matrix::engine::link::WSS_CONTAINER_PORT;
    use mosquitto_matrix::plan::column::{TCP_PORT, WS_PORT};
    use mosquitto_matrix::plan::{DEFAULT_LATE_PONG, DEFAULT_ROUND_TRIP_TIMEOUT, DEFAULT_SETUP_TIMEOUT, FIVE_MINUTE_MARK};
    use mosquitto_matrix::report::compare::SAME_TIME;
    let (setup, round_trip, late) = (DEFAULT_SETUP_TIMEOUT.as_secs(), DEFAULT_ROUND_TRIP_TIMEOUT.as_secs(), DEFAULT_LATE_PONG.as_secs());
    let quotes = [
        ("CONTRIBUTING.md", format!("the 5-minute mark ({} s)", FIVE_MINUTE_MARK.as_secs())),
        ("CONTRIBUTING.md", format!("the set-up bound ({setup} s) and the round-trip bound ({round_trip} s)")),
        ("CONTRIBUTING.md", format!("how long `late-pong` waits ({late} s)")),
        ("CONTRIBUTING.md", format!("({TCP_PORT}, {WS_PORT}; {WSS_CONTAINER_PORT} for `wss`)")),
        ("CONTRIBUTING.md", format!("the same ({} s)", SAME_TIME.as_secs())),
        ("docs/src/command-contract.md", format!("| how long to wait for the round trip (decimal) | {round_trip} |")),
        ("docs/src/command-contract.md", format!("so its deadline is the same in real time) | {setup} |")),
        ("docs/src/columns.md", format!("answers {late} s after the PING")),
        ("docs/src/columns.md", format!("the same MQTT session on port {TCP_PORT}")),
        ("docs/src/routes.md", format!("(`ws` {WS_PORT}, `tcp` {TCP_PORT})")),
    ];
    let missing: Vec<String> = quotes
        .iter()
        .filter(|(file, quote)| !read(&root().join(file)).replace('\n', " ").contains(quote.as_str()))
        .map(|(file, quote)| format!("{file}: {quote:?}"))
        .collect();
    assert!(missing.is_empty(), "these texts quote a rule the code no longer has (or were reworded; change the quote here too):\n{}", missing.join("\n"));
}
