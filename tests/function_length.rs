//! No function in `src/` is over 80 lines unless a comment says why it must be one.
//!
//! A function's length runs from the line of its `fn` to the line of its closing brace,
//! counted on the code alone (strings, chars and comments blanked, so a `{` in a format string
//! counts for nothing). The comment that lets a longer one stand is a line
//! `// Over 80 lines: <why>` among the comments and attributes right above its `fn`.

use std::path::{Path, PathBuf};

/// The longest a function may be without saying why.
const MAX_LINES: usize = 80;
/// What the comment above a longer function starts with.
const WHY: &str = "// Over 80 lines:";

/// Functions over the limit in other engineers' areas, to be split (or given their comment)
/// when their work is merged: (file under the crate, function). The list may only shrink: a
/// function here that is no longer too long fails the test until its entry goes.
const NOT_YET_SPLIT: &[(&str, &str)] = &[
    ("src/engine/broker.rs", "start"),
    ("src/client/proxy.rs", "relay"),
    ("src/client/rumqttc.rs", "run"),
    ("src/wire/mqtt.rs", "parse_body"),
    ("src/probe/answer.rs", "answer"),
    ("src/probe/sessions.rs", "probe"),
];

/// The text with every string, char literal and comment blanked to spaces (newlines kept), so
/// braces and `fn` are code wherever they are found.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |cs: &[char], out: &mut String| cs.iter().for_each(|c| out.push(if *c == '\n' { '\n' } else { ' ' }));
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let starts = |s: &str| s.chars().enumerate().all(|(k, c)| rest.get(k) == Some(&c));
        let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let end = if starts("//") {
            rest.iter().position(|c| *c == '\n').unwrap_or(rest.len())
        } else if starts("/*") {
            let mut depth = 0;
            let mut k = 0;
            while k < rest.len() {
                if rest[k..].starts_with(&['/', '*']) {
                    depth += 1;
                    k += 2;
                } else if rest[k..].starts_with(&['*', '/']) {
                    depth -= 1;
                    k += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    k += 1;
                }
            }
            k
        } else if !after_ident && (starts("r\"") || starts("r#") || starts("br\"") || starts("br#")) {
            let open = rest.iter().position(|c| *c == '"').unwrap_or(0);
            let hashes = rest[..open].iter().filter(|c| **c == '#').count();
            let mut k = open + 1;
            while k < rest.len() && !(rest[k] == '"' && rest[k + 1..].iter().take(hashes).filter(|c| **c == '#').count() == hashes) {
                k += 1;
            }
            (k + 1 + hashes).min(rest.len())
        } else if rest[0] == '"' || (!after_ident && starts("b\"")) {
            let mut k = if rest[0] == 'b' { 2 } else { 1 };
            while k < rest.len() && rest[k] != '"' {
                k += if rest[k] == '\\' { 2 } else { 1 };
            }
            (k + 1).min(rest.len())
        } else if rest[0] == '\'' {
            // A char literal ('x', '\n', '\u{7b}'); a lifetime ('a) is code.
            match (rest.get(1), rest.get(2)) {
                (Some('\\'), _) => rest.iter().skip(2).position(|c| *c == '\'').map_or(1, |k| k + 3),
                (Some(_), Some('\'')) => 3,
                _ => 0,
            }
        } else {
            0
        };
        if end == 0 {
            out.push(chars[i]);
            i += 1;
        } else {
            blank(&rest[..end], &mut out);
            i += end;
        }
    }
    out
}

/// The name after `fn` when a code line starts a function (`pub(crate) async fn name`).
fn fn_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "pub" | "const" | "async" | "unsafe" | "extern" | "default" => {}
            w if w.starts_with("pub(") || w.starts_with('"') => {}
            "fn" => {
                let name: String = words.next()?.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                return (!name.is_empty()).then_some(name);
            }
            _ => return None,
        }
    }
    None
}

/// Every function in the text: (name, first line, length in lines, whether a comment says why
/// it is long).
fn functions(text: &str) -> Vec<(String, usize, usize, bool)> {
    let code = code_only(text);
    let lines: Vec<&str> = code.lines().collect();
    let raw: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let mut depth = 0usize;
        let mut opened = false;
        let mut end = None;
        'scan: for (k, l) in lines.iter().enumerate().skip(n) {
            for c in l.chars() {
                match c {
                    ';' if !opened && depth == 0 => break 'scan,
                    '{' => {
                        opened = true;
                        depth += 1;
                    }
                    '}' if opened => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(k);
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
        let Some(end) = end else { continue };
        let above = raw[..n].iter().rev().map(|l| l.trim()).take_while(|l| l.starts_with("//") || l.starts_with("#["));
        let why = above.clone().any(|l| l.starts_with(WHY));
        found.push((name, n + 1, end - n + 1, why));
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_function_in_src_is_over_80_lines_without_a_comment_saying_why() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    let mut listed_but_short = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root).expect("under the crate").to_string_lossy().to_string();
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (name, line, len, why) in functions(&text) {
            let listed = NOT_YET_SPLIT.contains(&(rel.as_str(), name.as_str()));
            if len > MAX_LINES && !why && !listed {
                long.push(format!("{rel}:{line}: fn {name} is {len} lines"));
            } else if listed && (len <= MAX_LINES || why) {
                listed_but_short.push(format!("{rel}: fn {name}"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_LINES} lines: split each by step, or say why it must be one in a `{WHY} …` comment above it:\n{}",
        long.join("\n")
    );
    assert!(listed_but_short.is_empty(), "no longer too long (or now excused): remove from NOT_YET_SPLIT:\n{}", listed_but_short.join("\n"));
}

#[test]
fn the_counter_measures_code_and_sees_the_comment_that_excuses_a_long_function() {
    let body = |n: usize| "    let x = 1;\n".repeat(n);
    let text = format!(
        "/// Short.\nfn short() {{\n    let s = \"}}}} {{ fn fake() {{\";\n    let c = '}}';\n    // }} in a comment\n}}\n\n\
         pub(crate) async fn long<'a>(x: &'a str) -> &'a str {{\n{}    x\n}}\n\n\
         /// Long, and says why.\n// Over 80 lines: one match over every packet type.\n#[allow(dead_code)]\nfn excused() {{\n{}}}\n\
         fn declared_only();\n",
        body(85),
        body(90)
    );
    let found = functions(&text);
    let seen: Vec<(&str, usize, usize, bool)> = found.iter().map(|(n, l, len, why)| (n.as_str(), *l, *len, *why)).collect();
    assert_eq!(seen, [("short", 2, 5, false), ("long", 8, 88, false), ("excused", 100, 92, true)]);
    let blanked = format!("let r = {}; let b = b{}; {}", " ".repeat(6), " ".repeat(3), " ".repeat(17));
    assert_eq!(code_only("let r = r#\"{\"#; let b = b'{'; /* { /* } */ { */"), blanked);
}
