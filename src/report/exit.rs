//! The exit statuses of `mosquitto-matrix`, in one place, after cargo-nextest's
//! `NextestExitCode`: a CI job tells a regression from a broken harness by the number alone.
//!
//! [`TABLE`] is what `--help` prints and what docs/src/exit-codes.md lists (a test checks that
//! the chapter has every row); [`crate::report::compare::exit_status`] picks a run's.

/// Every cell met matrix.toml (or was new, or unproven in a quick look); nothing changed.
pub const MET: u8 = 0;
/// A broker's outcome changed: a regression or an improvement; a person must look.
pub const CHANGED: u8 = 1;
/// The harness could not run: no engine, a bad matrix.toml, a file it could not read or
/// write, results that do not fit together, or an engine that failed in the middle of a run.
pub const HARNESS_FAILED: u8 = 2;
/// The run finished and wrote its reports, but some cells could not run (ERROR), and no
/// outcome changed.
pub const CELLS_ERRORED: u8 = 3;
/// Nothing was selected to run (`--new` found no new release); the empty reports are written.
pub const NOTHING_TO_RUN: u8 = 4;
/// The command line itself was wrong (an unknown flag, a missing argument): `EX_USAGE`.
pub const USAGE: u8 = 64;
/// Interrupted by SIGINT (Ctrl-C), after removing the run's containers: 128 + 2.
pub const INTERRUPTED: u8 = 130;
/// Ended by SIGTERM, after removing the run's containers: 128 + 15.
pub const TERMINATED: u8 = 143;

/// Each status with what it means, in order: the one table `--help` and the book print.
pub const TABLE: [(u8, &str); 8] = [
    (MET, "every cell met matrix.toml (new and unproven cells included); diff: no cell changed; agree: the columns agree"),
    (CHANGED, "a broker's outcome changed (regression or improvement); diff: a cell changed; agree: the columns differ"),
    (HARNESS_FAILED, "the harness could not run (engine, config, unreadable or unwritable files, results that do not fit together, an engine that failed mid-run)"),
    (CELLS_ERRORED, "the run finished and wrote its reports, but some cells could not run (ERROR) and no outcome changed"),
    (NOTHING_TO_RUN, "nothing was selected to run (--new found no new release); the empty reports are still written"),
    (USAGE, "usage error: the command line could not be parsed"),
    (INTERRUPTED, "interrupted by SIGINT; the run's containers were removed"),
    (TERMINATED, "ended by SIGTERM; the run's containers were removed"),
];

/// [`TABLE`] as `--help` shows it: one `  N  meaning` line each.
pub fn help_text() -> String {
    let mut out = String::from("Exit status:\n");
    for (code, meaning) in TABLE {
        out.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exit_status_is_listed_once_in_the_table() {
        let codes: Vec<u8> = TABLE.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 64, 130, 143]);
        assert!(help_text().contains("  64  usage error"));
    }
}
