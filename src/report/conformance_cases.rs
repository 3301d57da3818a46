//! The book's page per case (`docs/src/conformance-cases.md`), written from the measured cells
//! of `conformance.toml`: for each client case its clause or upstream issue and a table of the
//! kind each column measured, for each broker case the answer each tag of a set measured and,
//! for a set nobody measured here (eclipse), the answer derived for each run of tags, marked
//! derived, with its basis, or why none is. Pure:
//! the measurements in, Markdown out; `tests/conformance.rs` checks that the page in the book is
//! this text (regenerate with `BLESS=1 cargo test --test conformance`).

use crate::conformance::broker_judge::{judge_answer, judge_cell};
use crate::conformance::brokers::{TagRow, BROKER_CASES};
use crate::conformance::derive::derived_rows;
use crate::conformance::case::{Required, CASES};
use crate::conformance::expected::Expected;
use crate::conformance::releases::client_and_version;
use crate::plan::releases::compare;
use crate::report::conformance::marked;
use crate::conformance::source::Source;

/// What a client must do, in words.
fn required_words(r: Required) -> &'static str {
    match r {
        Required::Hold => "hold the session and its round trip",
        Required::EchoPing => "answer with a masked PONG that echoes the PING's payload, and hold",
        Required::Close => "close the connection",
        Required::EchoClose => "echo the close frame and end",
        Required::SeeTheEnd => "see the connection end (EOF or CLOSED), not report a whole session",
        Required::TimeOut => "give up on the missing PINGRESP and close",
        Required::HoldOrRefuse => "carry on without the subprotocol, or refuse the upgrade",
        Required::Refused => "report the refusal and stop",
    }
}

/// The measured columns in report order: the built-ins (no `@`) as the file has them, then the
/// release columns by client and release order.
fn column_order(m: &Expected) -> Vec<&str> {
    let mut builtins: Vec<&str> = m.columns.keys().map(String::as_str).filter(|c| client_and_version(c).is_none()).collect();
    builtins.sort();
    let mut releases: Vec<&str> = m.columns.keys().map(String::as_str).filter(|c| client_and_version(c).is_some()).collect();
    releases.sort_by(|a, b| match (client_and_version(a), client_and_version(b)) {
        (Some((ca, va)), Some((cb, vb))) => ca.cmp(cb).then(compare(va, vb)),
        _ => a.cmp(b),
    });
    builtins.extend(releases);
    builtins
}

/// A set whose broker answers the chapter shows derived: its name and tags, in order.
pub type DerivedSet<'a> = (&'a str, &'a [String]);

/// The whole chapter; the broker tables show `set`'s `tags` in that order, then `derived`'s
/// tags grouped into runs that have the same answer on the same basis.
pub fn chapter(m: &Expected, set: &str, tags: &[String], derived: Option<DerivedSet<'_>>) -> String {
    let mut out = String::from(
        "# The conformance cases\n\n\
         <!-- Written by src/report/conformance_cases.rs from conformance.toml: regenerate with\n     \
         `BLESS=1 cargo test --locked --test conformance`; do not edit by hand. -->\n\n\
         One section per case, as [Autobahn|Testsuite](https://github.com/crossbario/autobahn-testsuite) \
         keeps one file per case: what is sent, what must happen, the clause or upstream issue that says so, \
         and what was measured. The client tables are `conformance.toml`'s measured kinds \
         (`mosquitto-matrix conformance clients`, every installed client version; the grid and its \
         colours are explained in [Conformance grids](conformance.md)); the broker tables are each \
         debian tag's answer as `mosquitto-matrix conformance brokers --set debian` measured it, \
         twice, the same both times. The eclipse set's broker answers are not measured here (its images are \
         out of reach): each is derived from the debian tags with the same WebSocket code, or from a known \
         Mosquitto bug, and marked *derived* with its basis, or *not derived* with why \
         (`mosquitto-matrix conformance brokers --set eclipse --derived`).\n\n\
         Client cases: ",
    );
    let links: Vec<String> = CASES.iter().map(|c| format!("[`{}`](#{})", c.id, c.id)).collect();
    out.push_str(&links.join(", "));
    out.push_str(".\n\nBroker cases: ");
    let links: Vec<String> = BROKER_CASES.iter().map(|c| format!("[`{}`](#broker-{})", c.id, c.id.replace('.', ""))).collect();
    out.push_str(&links.join(", "));
    out.push_str(".\n\n## Client cases\n");
    let columns = column_order(m);
    for case in CASES.iter() {
        out.push_str(&format!(
            "\n### `{id}`\n\n- **In a summary line:** {short}.\n- **The scripted broker:** {d}.\n- **A client must:** {r}.\n- **Clause, upstream:** {c}.\n\n| column | measured |\n|---|---|\n",
            id = case.id,
            short = case.short,
            d = case.description,
            r = required_words(case.required),
            c = case.clause
        ));
        for col in &columns {
            if let Some(kind) = m.columns.get(*col).and_then(|cells| cells.get(case.id)) {
                out.push_str(&format!("| `{col}` | {} |\n", marked(*kind)));
            }
        }
    }
    out.push_str(&format!("\n## Broker cases (set {set})\n"));
    let measured = m.brokers.get(set);
    let derived = derived.map(|(name, tags)| (name, derived_rows(m, name, tags)));
    for case in BROKER_CASES.iter() {
        out.push_str(&format!(
            "\n### Broker `{id}`\n\n- **The scripted client sends:** {d}.\n- **Clause:** {c}.\n\n| tag | answer | kind |\n|---|---|---|\n",
            id = case.id,
            d = case.description,
            c = case.clause
        ));
        for tag in tags {
            if let Some(words) = measured.and_then(|t| t.get(tag)).and_then(|cells| cells.get(case.id)) {
                let (kind, why) = judge_answer(case.id, words);
                out.push_str(&format!("| {tag} | `{}` | {}: {why} |\n", words.replace('|', "\\|"), marked(kind)));
            }
        }
        if let Some((name, rows)) = &derived {
            out.push_str(&derived_table(name, rows, case.id));
        }
    }
    out
}

/// One broker case's answers for a set nobody measured: runs of tags with the same answer on
/// the same basis, each marked derived (with its basis) or not derived (with why).
fn derived_table(set: &str, rows: &[TagRow], case: &str) -> String {
    let mut runs: Vec<(Vec<&str>, &str, &Source)> = Vec::new();
    for r in rows {
        let Some(i) = r.cells.iter().position(|(id, _)| *id == case) else { continue };
        let (words, source) = (r.cells[i].1.as_str(), r.source(i));
        match runs.last_mut() {
            Some((tags, w, s)) if *w == words && *s == source => tags.push(&r.tag),
            _ => runs.push((vec![&r.tag], words, source)),
        }
    }
    let mut out = format!("\nSet {set}, not measured here:\n\n| tags | answer | kind | basis |\n|---|---|---|---|\n");
    for (tags, words, source) in runs {
        let span = match tags.as_slice() {
            [one] => (*one).to_string(),
            [first, .., last] => format!("{first} – {last}"),
            [] => continue,
        };
        let basis = source.words().unwrap_or_else(|| "measured".into()).replace('|', "\\|");
        let answer = match source {
            Source::NotDerived { .. } => "*not derived*".to_string(),
            Source::Measured => format!("`{}`", words.replace('|', "\\|")),
            _ => format!("`{}` *(derived)*", words.replace('|', "\\|")),
        };
        let (kind, _) = judge_cell(case, words, source);
        out.push_str(&format!("| {span} | {answer} | {} | {basis} |\n", marked(kind)));
    }
    out
}
