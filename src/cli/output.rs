//! Where a result goes: standard output in one format, and optionally files. Every write to
//! standard output goes through [`say`], so a reader that closes the pipe ends the process
//! quietly ([`Error::StdoutClosed`]) instead of a panic.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use mosquitto_matrix::judge::results::RunResult;
use mosquitto_matrix::report::{self, junit};

use crate::cli::Error;

/// How a result is printed on standard output.
#[derive(Clone, Copy, ValueEnum)]
pub enum ResultFormat {
    /// The summary and a grid that fits 120 columns, identical rows folded.
    Table,
    /// The full grid, one row per tag, every cell's text and cause (wide).
    TableWide,
    /// A Markdown table with the causes under it.
    Markdown,
    /// The JSON result, as written to <set>.json.
    Json,
}

/// Where a result goes: `--format`, `--out` and `--junit`.
#[derive(clap::Args)]
pub struct ReportOutput {
    /// How to print the result on stdout. Example: --format markdown
    #[arg(long, value_enum, default_value = "table")]
    pub format: ResultFormat,
    /// Also write <set>.md, <set>.json and <set>.html into this directory. Example: --out target/matrix
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write JUnit XML, one test case per cell. Example: --junit target/matrix/junit.xml
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

/// Writes text to standard output; a closed pipe is [`Error::StdoutClosed`].
pub fn say(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes the files asked for, then prints the result: the files are there even when the
/// reader of standard output has gone, and a closed standard output is no error here: the
/// run's exit status still says what it found (a regression must not turn into 0 because
/// `| head` stopped reading).
pub fn emit(r: &RunResult, output: &ReportOutput) -> Result<(), Error> {
    let io = |path: &Path, e: std::io::Error| Error::File { path: path.to_path_buf(), what: e.to_string() };
    if let Some(dir) = output.out.as_deref() {
        for p in report::write_files(r, dir)? {
            eprintln!("written: {}", p.display());
        }
    }
    if let Some(path) = output.junit.as_deref() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        report::write_whole(path, junit::junit(r).as_bytes()).map_err(|e| io(path, e))?;
        eprintln!("written: {}", path.display());
    }
    let printed = say(&match output.format {
        ResultFormat::Table => report::table(r),
        ResultFormat::TableWide => report::table_wide(r),
        ResultFormat::Markdown => report::markdown(r),
        ResultFormat::Json => format!("{}\n", report::json(r)),
    });
    match printed {
        Err(Error::StdoutClosed) => Ok(()),
        other => other,
    }
}
