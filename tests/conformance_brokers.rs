//! `conformance brokers` on the debian set, for real (Docker): every tag answers every broker
//! case as measured and kept in conformance.toml, and a second run answers the same; held as a
//! set nobody measured against the answers derived for it, every derived answer holds and the
//! report says so. Runs by
//! name, in CI from scripts/test-all.sh: `cargo test --locked --test conformance_brokers`
//! (38-39 s here: two runs of 4 tags). Every wait in it is bounded (tests/conformance_bounds.rs).

use std::path::Path;

use mosquitto_matrix::conformance::broker_judge::tag_summary;
use mosquitto_matrix::conformance::brokers::run_tag;
use mosquitto_matrix::conformance::derive;
use mosquitto_matrix::conformance::source::Source;
use mosquitto_matrix::conformance::expected::Expected;
use mosquitto_matrix::engine::labels::new_run_id;
use mosquitto_matrix::plan::MatrixFile;

#[tokio::test(flavor = "multi_thread")]
async fn every_debian_tag_answers_every_broker_case_as_measured_and_the_same_twice() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = MatrixFile::load(&root.join("matrix.toml")).expect("matrix.toml loads");
    let expected = Expected::load(&root.join("conformance.toml")).expect("conformance.toml loads");
    let set = file.set("debian").expect("the debian set");
    let (one, two) = (new_run_id(), new_run_id());
    let first = futures_util::future::join_all(set.tags.iter().map(|t| run_tag(&set.image, t, &file.broker, &one))).await;
    let second = futures_util::future::join_all(set.tags.iter().map(|t| run_tag(&set.image, t, &file.broker, &two))).await;
    assert_eq!(first, second, "a second run answered otherwise");
    let measured = expected.brokers.get("debian").expect("conformance.toml measures the debian set");
    for tag in &set.tags {
        assert!(measured.contains_key(tag), "conformance.toml measures nothing for debian/{tag}");
    }
    let differ = expected.broker_differences("debian", &first);
    assert!(differ.is_empty(), "\n{}", differ.join("\n"));
    // The same images as a set nobody measured: each answer derived from the debian tags of the
    // same WebSocket code (its own among them) and held against this run's.
    let mut unmeasured = expected.clone();
    let builds = unmeasured.builds.get("debian").cloned().expect("conformance.toml has [builds.debian]");
    unmeasured.builds.insert("again".into(), builds);
    let checked = derive::checked(&unmeasured, "again", first);
    for row in &checked {
        let not: Vec<String> = row.sources.iter().filter(|s| !matches!(s, Source::Held { .. })).map(|s| format!("{s:?}")).collect();
        assert!(not.is_empty(), "again/{}: {not:?}", row.tag);
        assert!(tag_summary(row).ends_with("derived answers held in 13 of 13 cases"), "{}", tag_summary(row));
    }
    let text = mosquitto_matrix::report::conformance::brokers_text(&checked);
    assert!(text.contains("PINGRESP (derived, held)") && text.contains("close 1003 (derived, held)"), "{text}");
}
