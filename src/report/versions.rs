//! The answer per client along its version axis: where the versions of one client (`X@1.6.1`,
//! `X@2.2.0`, …) split into an older run that drops and a newer run that holds on the same tags
//! (or the other way round), the summary names the version: "paho-python on bookworm: holds from
//! 2.2.0 on; 2.1.0 and earlier drop at 300 s".
//!
//! A client version matrix.toml has no expectation for (a new release, run on demand) is answered
//! on its own, as the nightly job summary says it: "new client release: paho-mqtt 2.2.0: holds on
//! sid, drops on bullseye–trixie at 300 s" ([`new_client_releases`]).
//!
//! Pure: derived from a run's results alone, versions in release order
//! (`plan::releases::compare`), tags grouped into ranges as the summary groups them.

use std::collections::BTreeMap;

use crate::judge::results::{CellResult, RunResult};
use crate::plan::releases::compare;
use crate::plan::Outcome;
use crate::report::tag_order::{ranges, release_order};

/// One sentence per client and split: `CLIENT on TAGS: holds from V on; W and earlier drop at T`.
pub fn version_splits(r: &RunResult) -> Vec<String> {
    // client -> its versioned columns (plain ones only: no `+v5`, no route), in release order.
    let mut families: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for column in &r.profiles {
        if column.contains('+') || column.contains('/') {
            continue;
        }
        if let Some((client, version)) = column.split_once('@') {
            families.entry(client).or_default().push((version, column.as_str()));
        }
    }
    let order = release_order(r);
    let mut out = Vec::new();
    for (client, mut versions) in families {
        if versions.len() < 2 {
            continue;
        }
        versions.sort_by(|a, b| compare(a.0, b.0));
        // sentence -> the tags it is true on.
        let mut said: Vec<(String, Vec<String>)> = Vec::new();
        for t in order.iter().filter(|t| t.error.is_none()) {
            let cells: Option<Vec<&CellResult>> = versions.iter().map(|(_, col)| r.cell(&t.tag, col)).collect();
            let Some(cells) = cells else { continue };
            let Some(sentence) = split_words(&versions, &cells) else { continue };
            match said.iter_mut().find(|(s, _)| *s == sentence) {
                Some((_, tags)) => tags.push(t.tag.clone()),
                None => said.push((sentence, vec![t.tag.clone()])),
            }
        }
        for (sentence, tags) in said {
            let on = ranges(&order, |tag| tags.iter().any(|t| t == tag));
            out.push(format!("{client} on {on}: {sentence}"));
        }
    }
    out
}

/// What one drop looks like in words: `drop at 300 s`, `drop before CONNACK`.
fn drop_words(cells: &[&CellResult]) -> String {
    let times: Vec<u64> = cells.iter().filter_map(|c| c.verdict.at).map(|d| d.as_secs_f64().round() as u64).collect();
    let (lo, hi) = (times.iter().min(), times.iter().max());
    match (lo, hi) {
        (Some(l), Some(h)) if l == h => format!("drop at {l} s"),
        (Some(l), Some(h)) => format!("drop at {l}–{h} s"),
        _ => "drop".to_string(),
    }
}

/// The split of one tag's cells (versions in release order), if there is exactly one: every
/// version before it drops and every one from it on holds, or the other way round.
fn split_words(versions: &[(&str, &str)], cells: &[&CellResult]) -> Option<String> {
    let holds: Vec<bool> = cells.iter().map(|c| c.verdict.outcome == Outcome::Ok).collect();
    let k = holds.windows(2).position(|w| w[0] != w[1])? + 1;
    if holds[k..].iter().any(|h| *h != holds[k]) || holds[..k].iter().any(|h| *h != holds[0]) {
        return None;
    }
    let (first_new, last_old) = (versions[k].0, versions[k - 1].0);
    let earlier = if k == 1 { last_old.to_string() } else { format!("{last_old} and earlier") };
    Some(if holds[k] {
        let old = drop_words(&cells[..k]);
        let old = if k == 1 { old.replacen("drop", "drops", 1) } else { old };
        format!("holds from {first_new} on; {earlier} {old}")
    } else {
        let new = drop_words(&cells[k..]).replacen("drop", "drops", 1);
        format!("{new} from {first_new} on; {earlier} {}", if k == 1 { "holds" } else { "hold" })
    })
}

/// One sentence per new client release of the run: a client version (`X@VERSION`, no route, no
/// `+v5`) that no direct cell has an expectation for. It names the library as the client reported
/// it (`paho-mqtt 2.2.0`), else `X VERSION`, and the tags it holds on and drops on, as ranges.
pub fn new_client_releases(r: &RunResult) -> Vec<String> {
    let order = release_order(r);
    let mut out = Vec::new();
    for column in r.profiles.iter().filter(|c| !c.contains('+') && !c.contains('/')) {
        let Some((client, version)) = column.split_once('@') else { continue };
        let cells: Vec<&CellResult> = r.cells.iter().filter(|c| &c.profile == column).collect();
        if cells.is_empty() || cells.iter().any(|c| c.expected.is_some()) {
            continue;
        }
        let library = r.columns.iter().find(|c| &c.name == column).and_then(|c| c.library.clone()).unwrap_or_else(|| format!("{client} {version}"));
        let on = |want: &dyn Fn(Outcome) -> bool| ranges(&order, |tag| cells.iter().any(|c| c.tag == tag && want(c.verdict.outcome)));
        let mut parts = Vec::new();
        let holds = on(&|o| o == Outcome::Ok);
        if !holds.is_empty() {
            parts.push(format!("holds on {holds}"));
        }
        let drops = on(&|o| o != Outcome::Ok && o != Outcome::Error);
        if !drops.is_empty() {
            let dropped: Vec<&CellResult> = cells.iter().copied().filter(|c| c.verdict.outcome != Outcome::Ok && c.verdict.outcome != Outcome::Error).collect();
            let at = drop_words(&dropped);
            parts.push(format!("drops on {drops}{}", at.strip_prefix("drop").unwrap_or_default()));
        }
        let errors = on(&|o| o == Outcome::Error);
        if !errors.is_empty() {
            parts.push(format!("could not run on {errors} (ERROR)"));
        }
        out.push(format!("new client release: {library}: {}", parts.join(", ")));
    }
    out
}
