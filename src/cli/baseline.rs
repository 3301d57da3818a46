//! `baseline`: a result's proven outcomes written into matrix.toml as its expectations.
//!
//! Prints what it would change as a diff of matrix.toml, then writes it (`--dry-run`: only
//! prints). Cells it cannot accept (ERROR, an OK a quick look could not prove) are skipped,
//! one line each on stderr. A client version run on demand is added to its client's
//! `versions = [...]`, and its lock (from `target/clients/locks/`) is put beside the committed
//! ones in `clients/`. Exit status: 0, or 2 when a file cannot be read or written.

use std::path::{Path, PathBuf};

use mosquitto_matrix::plan::ondemand::LOCKS_DIR;
use mosquitto_matrix::plan::MatrixFile;
use mosquitto_matrix::report::{baseline, exit};

use crate::cli::output::say;
use crate::cli::{read_result, Error};

/// `baseline`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The result to accept.
    result: PathBuf,
    /// Print the diff of matrix.toml and write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Shows the change, then writes it unless `--dry-run`.
pub fn exec(config: &Path, args: Args) -> Result<u8, Error> {
    let r = read_result(&args.result)?;
    let text = std::fs::read_to_string(config).map_err(|e| Error::File { path: config.to_path_buf(), what: format!("cannot read: {e}") })?;
    let b = baseline::apply(config, &text, &r).map_err(|why| Error::Baseline { path: config.to_path_buf(), why })?;
    // Refuse to write a file that would no longer load.
    MatrixFile::parse(config, &b.text).map_err(|e| Error::File {
        path: config.to_path_buf(),
        what: format!("the baseline would make it invalid, so nothing was written: {e}"),
    })?;
    for s in &b.skipped {
        eprintln!("skipped {s}");
    }
    let shown = config.display().to_string();
    say(&baseline::file_diff(&shown, &text, &b.text))?;
    let what = format!(
        "{} expectation(s), {} digest(s), {} tag(s), {} client version(s)",
        b.changed.len(),
        b.digests.len(),
        b.added_tags.len(),
        b.added_versions.len()
    );
    if args.dry_run {
        eprintln!("{shown}: --dry-run: {what} would be written; nothing was");
        return Ok(exit::MET);
    }
    if b.text != text {
        std::fs::write(config, &b.text).map_err(|e| Error::File { path: config.to_path_buf(), what: format!("cannot write: {e}") })?;
    }
    eprintln!("{shown}: {what} written");
    let dir = config.parent().unwrap_or(Path::new("."));
    for name in &b.added_versions {
        eprintln!("{name}: {}", take_lock(dir, name)?);
    }
    Ok(exit::MET)
}

/// Commits a version's on-demand lock next to the locked ones, so `clients/setup.sh` installs it
/// with the others: a Maven lock's lines are added to `clients/X/lock.txt`, any other lock's files
/// copied into `clients/X/VERSION/`. Says what it did, or where the lock was looked for.
fn take_lock(dir: &Path, name: &str) -> Result<String, Error> {
    let Some((client, version)) = name.split_once('@') else { return Ok("not a client version".into()) };
    let from = dir.join(LOCKS_DIR).join(client).join(version);
    let file_error = |path: &Path, e: std::io::Error| Error::File { path: path.to_path_buf(), what: e.to_string() };
    if !from.is_dir() {
        return Ok(format!(
            "no lock at {} (the run was on another machine): run `bash clients/setup.sh --client {name}` here, then commit its lock as clients/README.md (Locks) says",
            from.display()
        ));
    }
    let maven = from.join("lock.txt");
    if maven.is_file() {
        let lines = std::fs::read_to_string(&maven).map_err(|e| file_error(&maven, e))?;
        let to = dir.join("clients").join(client).join("lock.txt");
        let mut all = std::fs::read_to_string(&to).map_err(|e| file_error(&to, e))?;
        if !all.ends_with('\n') {
            all.push('\n');
        }
        all.extend(lines.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|l| format!("{l}\n")));
        std::fs::write(&to, all).map_err(|e| file_error(&to, e))?;
        return Ok(format!("its jar's coordinates and sha256 added to {}", to.display()));
    }
    let to = dir.join("clients").join(client).join(version);
    std::fs::create_dir_all(&to).map_err(|e| file_error(&to, e))?;
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(&from).map_err(|e| file_error(&from, e))? {
        let path = entry.map_err(|e| file_error(&from, e))?.path();
        let file = path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        if path.is_file() && LOCK_FILES.contains(&file.as_str()) {
            std::fs::copy(&path, to.join(&file)).map_err(|e| file_error(&path, e))?;
            copied.push(file);
        }
    }
    Ok(format!("its lock ({}) copied into {}: commit it with matrix.toml", copied.join(", "), to.display()))
}

/// The files of an on-demand lock folder that make a committed lock (not the POM read, not the
/// program copied in to resolve Go's imports).
const LOCK_FILES: [&str; 5] = ["requirements.txt", "package.json", "package-lock.json", "go.mod", "go.sum"];
