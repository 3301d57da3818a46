//! `diff`: the cells whose outcome changed between two results of the same set, image,
//! keepalive and hold, and the tags whose image digest changed.
//!
//! Exit status: 0 no cell changed (a rebuilt image alone is shown, not counted), 1 a cell
//! changed, 2 a result could not be read or the two are not comparable, 64 a usage error.

use std::path::PathBuf;

use clap::ValueEnum;
use mosquitto_matrix::report::compare::{self, SAME_TIME};
use mosquitto_matrix::report::exit;

use crate::cli::output::say;
use crate::cli::{duration_flag, read_result, Error};

/// How a diff is printed.
#[derive(Clone, Copy, ValueEnum)]
pub enum DiffFormat {
    /// A terminal table.
    Table,
    /// A Markdown table.
    Markdown,
    /// JSON: `notes`, `changes` (cell, old, new, cause) and `digests` (tag, old, new).
    Json,
}

/// `diff`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The older result.
    old: PathBuf,
    /// The newer result.
    new: PathBuf,
    /// How to print the diff. Example: --format markdown
    #[arg(long, value_enum, default_value = "table")]
    format: DiffFormat,
    /// End times closer than this (broker time) are the same. Example: --within 1s
    #[arg(long, default_value_t = humantime::format_duration(SAME_TIME).to_string())]
    within: String,
}

/// Prints the diff; the exit status says whether a cell changed.
pub fn exec(args: Args) -> Result<u8, Error> {
    let within = duration_flag("--within", &args.within)?;
    let (old, new) = (read_result(&args.old)?, read_result(&args.new)?);
    compare::comparable(&args.old.display().to_string(), &old, &args.new.display().to_string(), &new)?;
    let note = compare::clocks_note(&old, &new);
    let changes = compare::diff_within(&old, &new, within);
    let digests = compare::digest_changes(&old, &new);
    let mut text = String::new();
    match args.format {
        DiffFormat::Json => text = format!("{}\n", compare::diff_json(note.as_deref(), &changes, &digests)),
        DiffFormat::Table | DiffFormat::Markdown => {
            let markdown = matches!(args.format, DiffFormat::Markdown);
            if let Some(note) = &note {
                text.push_str(&format!("{note}\n"));
            }
            text.push_str(&if markdown { compare::diff_markdown(&changes) } else { compare::diff_table(&changes) });
            if !digests.is_empty() {
                text.push_str(&format!("{}{}", if markdown { "\n" } else { "" }, compare::digest_lines(&digests, markdown)));
            }
        }
    }
    say(&text)?;
    // A rebuilt image is shown, but only a changed outcome counts.
    Ok(if changes.is_empty() { exit::MET } else { exit::CHANGED })
}
