//! The source tree is the pipeline: every module imports only from stages below its own,
//! and inside a folder the imports between its modules point one way (no circle).
//!
//! Reads every file under `src/` and every `crate::<stage>` path in it (in `use` lines and
//! in code alike), and fails on a path that reaches up. The order is the one `src/lib.rs`
//! documents; the binary (`main.rs` and `src/cli/`, one file per subcommand) is the top
//! and may use anything. Inside a folder, a file's
//! `crate::folder::sibling::…` paths (and names its `mod.rs` re-exports from a sibling) are
//! the edges between its modules; a circle among them fails, with the path round it.

#[path = "support/sources.rs"]
mod sources;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The stages, lowest first.
const STAGES: [&str; 12] = ["units", "wire", "plan", "judge", "engine", "client", "peer", "run", "probe", "conformance", "report", "history"];

/// The binary's own files under `src/`: above every stage, part of no library stage.
const TOP: [&str; 3] = ["main", "lib", "cli"];

fn rank(stage: &str) -> Option<usize> {
    STAGES.iter().position(|s| *s == stage)
}

/// The stage a file belongs to: its folder under `src/`, or its own name at the top.
fn stage_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src/");
    let first = rel.components().next().expect("a path").as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::name` in the text, with its line number; `use crate::{a, b}` counts both:
/// the first segment of each of [`full_crate_paths`].
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = full_crate_paths(text).into_iter().filter_map(|(n, p)| Some((n, p.into_iter().next()?))).collect();
    found.dedup();
    found
}

#[test]
fn no_module_imports_from_a_stage_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources::rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let stage = stage_of(&src, file);
        if TOP.contains(&stage.as_str()) {
            continue;
        }
        let own = rank(&stage).unwrap_or_else(|| panic!("{}: stage {stage:?} is not in the pipeline; add it to STAGES and to src/lib.rs", file.display()));
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (line, target) in crate_paths(&text) {
            match rank(&target) {
                Some(r) if r > own => wrong.push(format!("{}:{line}: {stage} imports crate::{target}, a stage above it", file.display())),
                Some(_) => {}
                None => wrong.push(format!("{}:{line}: crate::{target} is not a stage", file.display())),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_scanner_sees_grouped_and_inline_paths() {
    let found = crate_paths("use crate::{plan, wire::frame};\nlet x = crate::report::table(r); // crate::run in a comment");
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["plan", "wire", "report"]);
}

#[test]
fn every_stage_folder_is_in_the_pipeline_and_documents_what_comes_in_and_goes_out() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).expect("src/ lists") {
        let path = entry.expect("an entry").path();
        if !path.is_dir() {
            continue;
        }
        let name = path.file_name().expect("a name").to_string_lossy().to_string();
        assert!(rank(&name).is_some() || TOP.contains(&name.as_str()), "src/{name}/ is not a stage of the pipeline");
        let doc = std::fs::read_to_string(path.join("mod.rs")).unwrap_or_else(|e| panic!("src/{name}/mod.rs: {e}"));
        assert!(doc.starts_with("//! "), "src/{name}/mod.rs must open with a doc comment saying what comes in and goes out");
    }
}

#[test]
fn the_command_line_folder_is_the_top_and_no_library_stage_reaches_it() {
    assert_eq!(stage_of(Path::new("src"), Path::new("src/cli/run.rs")), "cli");
    assert!(TOP.contains(&"cli") && rank("cli").is_none(), "src/cli/ is the binary's, above every stage");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources::rust_files(&src, &mut files);
    for file in files.iter().filter(|f| !TOP.contains(&stage_of(&src, f).as_str())) {
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let reaches = crate_paths(&text).iter().any(|(_, name)| name == "cli") || text.lines().any(|l| l.trim() == "mod cli;" || l.trim() == "pub mod cli;");
        assert!(!reaches, "{}: the library must not reach the command line", file.display());
    }
}

/// Every `crate::…` path in the text, as its segments (identifiers only), with its line:
/// `use crate::report::{summary::{a, b}, text::c};` gives `report::summary::a`,
/// `report::summary::b` and `report::text::c`.
fn full_crate_paths(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let mut paths = Vec::new();
            expand(rest, Vec::new(), &mut paths);
            found.extend(paths.into_iter().map(|p| (n + 1, p)));
        }
    }
    found
}

fn ident(s: &str) -> (String, &str) {
    let name: String = s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    let len = name.len();
    (name, &s[len..])
}

/// Expands one path (with `{…}` groups, nested) that starts at `s`, after `prefix`.
fn expand(s: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let s = s.trim_start();
    if let Some(group) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        // A group that goes on past this line: what is on the line.
        expand(&group[start..], prefix, out);
        return;
    }
    let (name, rest) = ident(s);
    if name.is_empty() || name == "self" {
        if !prefix.is_empty() {
            out.push(prefix);
        }
        return;
    }
    let mut path = prefix;
    path.push(name);
    match rest.strip_prefix("::") {
        Some(more) => expand(more, path, out),
        None => out.push(path),
    }
}

/// A file's module path: `src/report/text.rs` → `report::text`, `src/client/core/mod.rs` →
/// `client::core`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src/");
    let mut parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The edges between the modules of each folder: for a file at `a::b::c` and a path
/// `crate::a::d::…`, the edge `b → d` in folder `a`. `files` are (module path, text);
/// a folder's `mod.rs` re-exports (`pub use x::{Name}`) turn `crate::folder::Name` into an
/// edge to `x`.
fn folder_edges(files: &[(Vec<String>, String)]) -> BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> {
    let mut children: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for (path, _) in files {
        if let Some((last, folder)) = path.split_last() {
            children.entry(folder.to_vec()).or_default().insert(last.clone());
        }
    }
    // Names a folder's mod.rs re-exports, and the sibling each comes from.
    let mut reexports: BTreeMap<Vec<String>, BTreeMap<String, String>> = BTreeMap::new();
    for (path, text) in files {
        let Some(kids) = children.get(path) else { continue };
        for line in text.lines().map(str::trim).filter(|l| l.starts_with("pub use ")) {
            let mut paths = Vec::new();
            expand(line["pub use ".len()..].trim_start_matches("self::"), Vec::new(), &mut paths);
            for p in paths.into_iter().filter(|p| p.len() >= 2 && kids.contains(&p[0])) {
                reexports.entry(path.clone()).or_default().insert(p[p.len() - 1].clone(), p[0].clone());
            }
        }
    }
    let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (path, text) in files {
        for (_, target) in full_crate_paths(text) {
            let common = path.iter().zip(&target).take_while(|(a, b)| a == b).count();
            // Inside its own module, or a path to the folder itself (mod.rs as a facade).
            if common == 0 || common >= path.len() || common >= target.len() {
                continue;
            }
            let folder = path[..common].to_vec();
            let from = path[common].clone();
            let Some(kids) = children.get(&folder) else { continue };
            let to = match kids.contains(&target[common]) {
                true => target[common].clone(),
                false => match reexports.get(&folder).and_then(|r| r.get(&target[common])) {
                    Some(module) => module.clone(),
                    None => continue,
                },
            };
            if to != from {
                edges.entry(folder).or_default().entry(from).or_default().insert(to);
            }
        }
    }
    edges
}

/// A circle in a graph, as the path round it (`a → b → a`), if there is one.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(n: &str, edges: &BTreeMap<String, BTreeSet<String>>, stack: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut path = stack[i..].to_vec();
            path.push(n.to_string());
            return Some(path);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for next in edges.get(n).into_iter().flatten() {
            if let Some(path) = visit(next, edges, stack, done) {
                return Some(path);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

/// Every circle inside a folder, worded: `src/report: compact → text → compact`.
fn circles(files: &[(Vec<String>, String)]) -> Vec<String> {
    folder_edges(files)
        .iter()
        .filter_map(|(folder, edges)| circle(edges).map(|c| format!("src/{}: {}", folder.join("/"), c.join(" → "))))
        .collect()
}

#[test]
fn no_folder_has_a_circle_of_imports() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources::rust_files(&src, &mut paths);
    let files: Vec<(Vec<String>, String)> =
        paths.iter().map(|f| (module_path(&src, f), std::fs::read_to_string(f).expect("a readable source file"))).collect();
    let found = circles(&files);
    assert!(found.is_empty(), "imports inside a folder must point one way; circles:\n{}", found.join("\n"));
}

#[test]
fn a_circle_inside_a_folder_is_refused_and_shown() {
    let file = |path: &str, text: &str| (path.split("::").map(String::from).collect::<Vec<_>>(), text.to_string());
    let circular = [
        file("report", "pub mod compact;\npub mod text;\npub mod html;\npub use text::{cell_text};"),
        file("report::compact", "use crate::report::{summary::Summary, text::{run_line, broker_text}};"),
        file("report::text", "use crate::report::compact;\nlet x = crate::judge::decide(r);"),
        file("report::html", "use crate::report::cell_text;"),
        file("report::summary", ""),
    ];
    assert_eq!(circles(&circular), ["src/report: compact → text → compact"]);
    // Through a name the folder's mod.rs re-exports: html → text → html.
    let through_reexport = [
        file("report", "pub use text::{cell_text, table};"),
        file("report::text", "use crate::report::html::page;"),
        file("report::html", "let t = crate::report::cell_text(c);"),
    ];
    assert_eq!(circles(&through_reexport), ["src/report: html → text → html"]);
    // One way: text uses compact and html, both use wording; wording uses nothing of theirs.
    let one_way = [
        file("report::text", "use crate::report::{compact, html, wording::run_line};"),
        file("report::compact", "use crate::report::wording::run_line;"),
        file("report::html", "use crate::report::wording::{run_line, ran_words};"),
        file("report::wording", "use crate::report::summary::Summary;"),
        file("report::summary", ""),
    ];
    assert!(circles(&one_way).is_empty());
    // Inside a nested folder too.
    let nested = [file("client::core::a", "use crate::client::core::b;"), file("client::core::b", "use crate::client::core::a::X;")];
    assert_eq!(circles(&nested), ["src/client/core: a → b → a"]);
}
