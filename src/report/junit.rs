//! JUnit XML: one test case per cell, failed when the outcome differs from matrix.toml,
//! skipped when the hold could not prove it (unproven).

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::report::{cell_text, outcome_text};
use crate::judge::results::{RunResult, Status};

/// The run as JUnit XML.
pub fn junit(r: &RunResult) -> String {
    let name = match r.clock_words() {
        Some(words) => format!("mosquitto-matrix {} ({words})", r.set),
        None => format!("mosquitto-matrix {}", r.set),
    };
    let mut suite = TestSuite::new(name);
    for c in &r.cells {
        let status = match c.status {
            Status::Met | Status::New => TestCaseStatus::success(),
            // Not a pass: the hold could not observe what is expected.
            Status::Unproven => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("unproven: expected {}, and a hold of {} s cannot observe it", c.expected.as_deref().unwrap_or("-"), r.hold_secs));
                s.set_type("unproven");
                s
            }
            Status::Changed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("expected {}, got {}: {}", c.expected.as_deref().unwrap_or("-"), outcome_text(c), c.verdict.cause));
                s.set_type("changed outcome");
                s
            }
            Status::Error => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(c.verdict.cause.clone());
                s.set_type("harness error");
                s
            }
        };
        let mut case = TestCase::new(c.id(), status);
        case.set_classname(format!("{}.{}", r.set, c.tag));
        case.set_system_out(format!("{} — {}", cell_text(c), c.verdict.cause));
        suite.add_test_case(case);
    }
    let mut report = Report::new("mosquitto-matrix");
    report.add_test_suite(suite);
    report.to_string().unwrap_or_else(|e| format!("<!-- cannot serialise the JUnit report: {e} -->"))
}
