//! The broker answers of tags nobody has measured (the eclipse set: its images are out of reach
//! here), derived from the tags that were measured and from what serves WebSocket in each image,
//! each with its basis; marked as derived until measured. Pure: `conformance.toml`'s measured
//! answers and `[builds]` in, one [`Expectation`] per tag and case out.
//!
//! The rule, in order, for a case of a tag that `conformance.toml` does not measure:
//! 1. a known fact about the tag's own Mosquitto version decides ([`KNOWN`]: Mosquitto #1974
//!    on 2.0.0–2.0.5, and MQTT.js's split CONNECT measured on the other libwebsockets 2.4.2
//!    images);
//! 2. else the measured tags of the same WebSocket code — libwebsockets of the same major
//!    version, or Mosquitto's built-in code — give the answer when they all give the same one
//!    (an answer the harness could not play is no basis);
//! 3. else it is not derived, and says why: no measured tag has that code, or the measured ones
//!    disagree.
//!
//! When a run measures a derived cell, [`checked`] says whether the derived answer held.

use std::collections::BTreeMap;

use crate::conformance::broker_judge::judge_answer;
use crate::conformance::brokers::{TagRow, BROKER_CASES};
use crate::conformance::expected::Expected;
use crate::conformance::image::Build;
use crate::conformance::judge::Kind;
use crate::conformance::source::{Source, NOT_DERIVED};
use crate::plan::releases::compare;

/// What is expected of a broker cell, and on what basis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// Measured (`[brokers.SET.TAG]`): this answer.
    Measured(String),
    /// Not measured; derived: this answer, on this basis.
    Derived {
        /// The answer, in the words a measurement would give.
        answer: String,
        /// Why, in words: the measured tags or the fact it comes from.
        basis: String,
    },
    /// Neither measured nor derived, and why not.
    NotDerived(String),
}

/// A fact about a Mosquitto version that decides a case, whatever else is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The broker case.
    pub case: &'static str,
    /// The Mosquitto versions it holds for, both ends included.
    pub from: &'static str,
    /// The last version it holds for.
    pub to: &'static str,
    /// The answer.
    pub answer: &'static str,
    /// Where it comes from.
    pub basis: &'static str,
}

/// The known facts: Mosquitto #1974, measured with MQTT.js on the official images
/// (`shared/reference/eclipse-measured.md`, "MQTT.js on 2.0.0 – 2.0.5").
pub const KNOWN: [Known; 3] = [
    Known {
        case: "split-connect",
        from: "2.0.0",
        to: "2.0.5",
        answer: "FIN",
        basis: "Mosquitto #1974 (2.0.0–2.0.5, fixed in 2.0.6): a packet split over frames is misread; \
                MQTT.js's CONNECT in 13 frames, split as ours at its first two bytes, met a FIN and no CONNACK on these images",
    },
    Known {
        case: "split-connect",
        from: "1.6.9",
        to: "1.6.14",
        answer: "CONNACK 0",
        basis: "MQTT.js's CONNECT in 13 frames, split as ours at its first two bytes, was read (CONNACK, session OK) on these images; #1974 came with 2.0.0",
    },
    Known {
        case: "split-connect",
        from: "2.0.6",
        to: "2.0.10",
        answer: "CONNACK 0",
        basis: "MQTT.js's CONNECT in 13 frames, split as ours at its first two bytes, was read (CONNACK, session OK) on these images; #1974 was fixed in 2.0.6",
    },
];

/// A tag that was measured: where it stands, its image and its answers.
#[derive(Debug, Clone, Copy)]
pub struct MeasuredTag<'a> {
    /// Its set.
    pub set: &'a str,
    /// Its tag.
    pub tag: &'a str,
    /// Its image.
    pub build: &'a Build,
    /// Case id → answer.
    pub answers: &'a BTreeMap<String, String>,
}

/// The expectation of `case` for a tag built as `target` that was not measured (the rule in
/// this module's doc).
pub fn derive(case: &str, target: &Build, measured: &[MeasuredTag<'_>]) -> Expectation {
    let within = |k: &Known| compare(&target.mosquitto, k.from).is_ge() && compare(&target.mosquitto, k.to).is_le();
    if let Some(k) = KNOWN.iter().find(|k| k.case == case && within(k)) {
        return Expectation::Derived { answer: k.answer.into(), basis: k.basis.into() };
    }
    let family = target.websocket.family();
    let alike: Vec<(&MeasuredTag<'_>, &String)> = measured
        .iter()
        .filter(|m| m.build.websocket.family() == family)
        .filter_map(|m| m.answers.get(case).map(|a| (m, a)))
        .filter(|(_, a)| judge_answer(case, a).0 != Kind::Error)
        .collect();
    let named = |m: &MeasuredTag<'_>| format!("{}/{} (Mosquitto {}, {})", m.set, m.tag, m.build.mosquitto, m.build.websocket.name());
    match alike.first() {
        None => Expectation::NotDerived(format!("no measured tag has {family}")),
        Some((_, first)) if alike.iter().all(|(_, a)| a == first) => {
            let tags: Vec<String> = alike.iter().map(|(m, _)| named(m)).collect();
            Expectation::Derived { answer: (*first).clone(), basis: format!("every measured tag with {family} answers so: {}", tags.join(", ")) }
        }
        Some(_) => {
            let said: Vec<String> = alike.iter().map(|(m, a)| format!("{}/{} {a:?}", m.set, m.tag)).collect();
            Expectation::NotDerived(format!("the measured tags with {family} disagree: {}", said.join(", ")))
        }
    }
}

/// Every measured tag of `expected` whose build it knows.
pub fn measured_tags(expected: &Expected) -> Vec<MeasuredTag<'_>> {
    let mut out = Vec::new();
    for (set, tags) in &expected.brokers {
        for (tag, answers) in tags {
            if let Some(build) = expected.builds.get(set).and_then(|b| b.get(tag)) {
                out.push(MeasuredTag { set, tag, build, answers });
            }
        }
    }
    out
}

/// Each of `tags` of `set`, in order: each broker case's expectation, measured where
/// `conformance.toml` measures it, else derived.
pub fn expectations(expected: &Expected, set: &str, tags: &[String]) -> Vec<(String, Vec<(&'static str, Expectation)>)> {
    let measured = measured_tags(expected);
    tags.iter()
        .map(|tag| {
            let answers = expected.brokers.get(set).and_then(|t| t.get(tag));
            let build = expected.builds.get(set).and_then(|b| b.get(tag));
            let cells = BROKER_CASES
                .iter()
                .map(|c| {
                    let e = match (answers.and_then(|a| a.get(c.id)), build) {
                        (Some(a), _) => Expectation::Measured(a.clone()),
                        (None, Some(b)) => derive(c.id, b, &measured),
                        (None, None) => Expectation::NotDerived(format!("conformance.toml has no [builds.{set}] entry for {tag}")),
                    };
                    (c.id, e)
                })
                .collect();
            (tag.clone(), cells)
        })
        .collect()
}

/// The grid of `set` with nothing run: each tag's measured answers where there are some, else
/// the derived ones, each cell's source set.
pub fn derived_rows(expected: &Expected, set: &str, tags: &[String]) -> Vec<TagRow> {
    expectations(expected, set, tags)
        .into_iter()
        .map(|(tag, cells)| {
            let (cells, sources) = cells
                .into_iter()
                .map(|(case, e)| match e {
                    Expectation::Measured(a) => ((case, a), Source::Measured),
                    Expectation::Derived { answer, basis } => ((case, answer), Source::Derived { basis }),
                    Expectation::NotDerived(why) => ((case, NOT_DERIVED.to_string()), Source::NotDerived { why }),
                })
                .unzip();
            TagRow { tag, cells, sources }
        })
        .collect()
}

/// Measured `rows` of `set` held against the answers derived for them: each cell that had a
/// derived answer says whether it held. Cells measured before (or not derived) stay measured.
pub fn checked(expected: &Expected, set: &str, rows: Vec<TagRow>) -> Vec<TagRow> {
    let tags: Vec<String> = rows.iter().map(|r| r.tag.clone()).collect();
    let expect = expectations(expected, set, &tags);
    rows.into_iter()
        .zip(expect)
        .map(|(mut row, (_, cells))| {
            row.sources = row
                .cells
                .iter()
                .map(|(case, got)| match cells.iter().find(|(c, _)| c == case).map(|(_, e)| e) {
                    Some(Expectation::Derived { answer, basis }) if answer == got => Source::Held { basis: basis.clone() },
                    Some(Expectation::Derived { answer, basis }) => Source::NotHeld { derived: answer.clone(), basis: basis.clone() },
                    _ => Source::Measured,
                })
                .collect();
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::image::WebSocketCode;

    fn build(mosquitto: &str, websocket: &str) -> Build {
        Build { mosquitto: mosquitto.into(), websocket: WebSocketCode::parse(websocket).expect("a websocket code") }
    }

    fn answers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(c, a)| ((*c).to_string(), (*a).to_string())).collect()
    }

    /// The debian set as measured: three libwebsockets 4.x tags and sid's built-in code.
    struct Debian {
        builds: [Build; 4],
        answers: [BTreeMap<String, String>; 4],
    }

    impl Debian {
        fn new(trixie_close: &str) -> Debian {
            let lws = |close: &str| answers(&[("text-frame", "PINGRESP"), ("close", close), ("split-connect", "CONNACK 0"), ("unmasked", "could not play: connect: nothing within 2 s")]);
            Debian {
                builds: [build("2.0.11", "libwebsockets 4.0.20"), build("2.0.11", "libwebsockets 4.1.6"), build("2.0.21", "libwebsockets 4.3.5"), build("2.1.2", "built-in")],
                answers: [lws("close 1000 \"bye\""), lws("close 1000 \"bye\""), lws(trixie_close), answers(&[("text-frame", "close 1003"), ("close", "nothing in 2 s")])],
            }
        }

        fn tags(&self) -> Vec<MeasuredTag<'_>> {
            ["bullseye", "bookworm", "trixie", "sid"]
                .iter()
                .zip(self.builds.iter().zip(self.answers.iter()))
                .map(|(tag, (build, answers))| MeasuredTag { set: "debian", tag, build, answers })
                .collect()
        }
    }

    #[test]
    fn a_libwebsockets_4_tag_takes_the_answer_all_measured_4_x_tags_agree_on_with_them_named() {
        let debian = Debian::new("close 1000 \"bye\"");
        let Expectation::Derived { answer, basis } = derive("text-frame", &build("2.0.11", "libwebsockets 4.2.0"), &debian.tags()) else { panic!("derived") };
        assert_eq!(answer, "PINGRESP");
        assert!(basis.contains("debian/bullseye (Mosquitto 2.0.11, libwebsockets 4.0.20)") && basis.contains("debian/trixie") && !basis.contains("sid"), "{basis}");
    }

    #[test]
    fn a_built_in_tag_takes_sids_answer() {
        let debian = Debian::new("close 1000 \"bye\"");
        let got = derive("text-frame", &build("2.1.0", "built-in"), &debian.tags());
        assert!(matches!(&got, Expectation::Derived { answer, basis } if answer == "close 1003" && basis.contains("debian/sid")), "{got:?}");
    }

    #[test]
    fn measured_tags_that_disagree_derive_nothing_and_say_who_said_what() {
        let debian = Debian::new("FIN");
        let got = derive("close", &build("2.0.12", "libwebsockets 4.2.1"), &debian.tags());
        let Expectation::NotDerived(why) = got else { panic!("not derived: {got:?}") };
        assert!(why.contains("disagree") && why.contains("debian/trixie \"FIN\""), "{why}");
    }

    #[test]
    fn libwebsockets_2_is_in_no_measured_image_so_nothing_is_derived_for_it() {
        let debian = Debian::new("close 1000 \"bye\"");
        let got = derive("text-frame", &build("2.0.8", "libwebsockets 2.4.2"), &debian.tags());
        assert_eq!(got, Expectation::NotDerived("no measured tag has libwebsockets 2.x".into()));
    }

    #[test]
    fn mosquitto_1974_decides_the_split_connect_on_2_0_0_to_2_0_5_and_only_there() {
        let debian = Debian::new("close 1000 \"bye\"");
        let at = |v: &str, ws: &str| derive("split-connect", &build(v, ws), &debian.tags());
        for v in ["2.0.0", "2.0.5"] {
            assert!(matches!(at(v, "libwebsockets 2.4.2"), Expectation::Derived { answer, basis } if answer == "FIN" && basis.contains("#1974")), "{v}");
        }
        for v in ["1.6.9", "2.0.6", "2.0.10"] {
            assert!(matches!(at(v, "libwebsockets 2.4.2"), Expectation::Derived { answer, basis } if answer == "CONNACK 0" && basis.contains("MQTT.js")), "{v}");
        }
        assert!(matches!(at("2.0.11", "libwebsockets 4.2.0"), Expectation::Derived { basis, .. } if basis.contains("debian/bookworm")));
    }

    #[test]
    fn an_answer_the_harness_could_not_play_is_no_basis() {
        let debian = Debian::new("close 1000 \"bye\"");
        assert_eq!(derive("unmasked", &build("2.0.12", "libwebsockets 4.2.1"), &debian.tags()), Expectation::NotDerived("no measured tag has libwebsockets 4.x".into()));
    }

    #[test]
    fn a_measured_cell_says_whether_the_answer_derived_for_it_held() {
        let text = "[builds.debian]\nbookworm = { mosquitto = \"2.0.11\", websocket = \"libwebsockets 4.1.6\" }\n\
                    [builds.eclipse]\n\"2.0.12\" = { mosquitto = \"2.0.12\", websocket = \"libwebsockets 4.2.1\" }\n\
                    [brokers.debian.bookworm]\n\"text-frame\" = \"PINGRESP\"\n\"close\" = \"close 1000 \\\"bye\\\"\"\n";
        let expected = Expected::parse(std::path::Path::new("c.toml"), text).expect("parses");
        let row = TagRow { tag: "2.0.12".into(), cells: vec![("text-frame", "PINGRESP".into()), ("close", "FIN".into()), ("length-64", "PINGRESP".into())], sources: Vec::new() };
        let row = checked(&expected, "eclipse", vec![row]).remove(0);
        assert!(matches!(&row.sources[0], Source::Held { basis } if basis.contains("debian/bookworm")), "{:?}", row.sources);
        assert!(matches!(&row.sources[1], Source::NotHeld { derived, .. } if derived == "close 1000 \"bye\""), "{:?}", row.sources);
        assert_eq!(row.sources[2], Source::Measured);
        let derived = derived_rows(&expected, "eclipse", &["2.0.12".to_string()]).remove(0);
        assert_eq!(derived.cells[0], ("text-frame", "PINGRESP".to_string()));
        assert!(matches!(derived.sources[0], Source::Derived { .. }));
        assert_eq!(derived.cells[1].1, NOT_DERIVED);
    }
}
