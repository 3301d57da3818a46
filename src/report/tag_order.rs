//! The tags of a run in release order, and runs of them as text (`1.6.9–1.6.14, 2.1.2`): what
//! the summary and the split along a client's versions both word their ranges with. Pure.

use crate::judge::results::{RunResult, TagResult};
use crate::plan::{copies, Version};

/// The tags of a run in release order: by version when every tag is a version
/// (`1.6.9`, `2.1.0-alpine`), else as the run listed them (the set's file order).
/// The copies of one tag (`bookworm#1` … `bookworm#8`, a run with `--copies`) stay together.
pub fn release_order(r: &RunResult) -> Vec<&TagResult> {
    let mut tags: Vec<&TagResult> = r.tags.iter().collect();
    let first_seen = |t: &TagResult| r.tags.iter().position(|u| copies::image_tag(&u.tag) == copies::image_tag(&t.tag));
    tags.sort_by_key(|t| first_seen(t));
    if tags.iter().all(|t| Version::find(&t.tag).is_some()) {
        tags.sort_by_key(|t| Version::find(&t.tag));
    }
    tags
}

/// Runs of consecutive tags (in `order`) as text: `1.6.9–1.6.14, 2.0.0–2.0.10, 2.1.2`.
pub fn ranges(order: &[&TagResult], keep: impl Fn(&str) -> bool) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, t) in order.iter().enumerate() {
        if !keep(&t.tag) {
            continue;
        }
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == i => *last = i,
            _ => runs.push((i, i)),
        }
    }
    runs.iter()
        .map(|&(a, b)| if a == b { order[a].tag.clone() } else { format!("{}–{}", order[a].tag, order[b].tag) })
        .collect::<Vec<_>>()
        .join(", ")
}
