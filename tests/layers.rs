//! The source tree is the pipeline: every module imports only from stages below its own.
//!
//! Reads every file under `src/` and every `crate::<stage>` path in it (in `use` lines and
//! in code alike), and fails on a path that reaches up. The order is the one `src/lib.rs`
//! documents; the binary (`main.rs` and `src/cli/`, one file per subcommand) is the top
//! and may use anything.

use std::path::{Path, PathBuf};

/// The stages, lowest first.
const STAGES: [&str; 9] = ["units", "wire", "plan", "judge", "engine", "client", "run", "report", "history"];

/// The binary's own files under `src/`: above every stage, part of no library stage.
const TOP: [&str; 3] = ["main", "lib", "cli"];

fn rank(stage: &str) -> Option<usize> {
    STAGES.iter().position(|s| *s == stage)
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

/// The stage a file belongs to: its folder under `src/`, or its own name at the top.
fn stage_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src/");
    let first = rel.components().next().expect("a path").as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::name` in the text, with its line number; `use crate::{a, b}` counts both.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() {
                        found.push((n + 1, name));
                    }
                }
            } else {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                found.push((n + 1, name));
            }
        }
    }
    found
}

#[test]
fn no_module_imports_from_a_stage_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
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
    rust_files(&src, &mut files);
    for file in files.iter().filter(|f| !TOP.contains(&stage_of(&src, f).as_str())) {
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let reaches = crate_paths(&text).iter().any(|(_, name)| name == "cli") || text.lines().any(|l| l.trim() == "mod cli;" || l.trim() == "pub mod cli;");
        assert!(!reaches, "{}: the library must not reach the command line", file.display());
    }
}
