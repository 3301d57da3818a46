//! The matrix: `cargo test --test matrix` runs the selected set on real brokers, prints the
//! table, and fails with every cell whose outcome differs from matrix.toml and every ERROR.
//!
//! Narrow it from the environment: `MATRIX_SET=debian MATRIX_TAGS=bookworm,sid`.

use std::io::Write as _;
use std::path::Path;

use mosquitto_matrix::plan::{config_path, ondemand, MatrixFile, Plan, Selection};
use mosquitto_matrix::engine::{self, labels};
use mosquitto_matrix::report::{self, progress};
use mosquitto_matrix::run;

#[tokio::test(flavor = "multi_thread")]
async fn every_cell_of_the_selected_set_meets_its_expectation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The same functions the CLI reads MATRIX_CONFIG and the selection's MATRIX_* through.
    let file_path = config_path(|k| std::env::var(k).ok(), &root.join("matrix.toml"));
    let file = MatrixFile::load(&file_path).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::new(&file, &Selection::from_env()).unwrap_or_else(|e| panic!("{e}"));
    // A client version matrix.toml does not list (MATRIX_CLIENT_VERSIONS=X@VERSION) is installed
    // on demand first, as `mosquitto-matrix run` does.
    let wanted = ondemand::in_columns(&plan.columns, &file.versioned);
    let say = &mut |line: String| {
        let _ = writeln!(std::io::stderr().lock(), "mosquitto-matrix: {line}");
    };
    engine::ondemand::install(&wanted, &plan.workdir, say).await.unwrap_or_else(|e| panic!("{e}"));
    let run_id = labels::new_run_id();
    // Written to the process's own stdout/stderr, not through println!, so the table shows in
    // CI logs although the test harness captures the output of passing tests.
    let _ = writeln!(
        std::io::stderr().lock(),
        "mosquitto-matrix: set {} ({}), {} tags x {} profiles, hold {:?}, run id {run_id}",
        plan.set,
        plan.image,
        plan.tags.len(),
        plan.columns.len(),
        plan.timing.hold
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(progress::plain(rx, plan.cells.len(), plan.timing.hold, plan.speed));
    let result = run::run(&plan, &run_id, Some(tx)).await;
    printer.await.expect("the progress printer ends when the run does");

    let _ = writeln!(std::io::stdout().lock(), "{}", report::table(&result));
    let out = root.join("target").join("matrix");
    match report::write_files(&result, &out) {
        Ok(paths) => paths.iter().for_each(|p| {
            let _ = writeln!(std::io::stdout().lock(), "written: {}", p.display());
        }),
        Err(e) => panic!("cannot write the reports under {}: {e}", out.display()),
    }
    if let Some(fault) = &result.harness_fault {
        panic!("the harness could not finish the run: {fault}");
    }
    let failures = report::failures(&result);
    assert!(
        failures.is_empty(),
        "{} cell(s) differ from matrix.toml or could not run:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
