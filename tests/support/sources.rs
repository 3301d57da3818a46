//! The crate's own source files, for the tests that read the code as text (`layers`,
//! `function_length`). Included by path (`#[path = "support/sources.rs"] mod sources;`).

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, at any depth, added to `out`.
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
