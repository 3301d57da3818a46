//! Where a broker cell's answer comes from — measured, derived (and, once measured, whether
//! the derived answer held) or neither — as every report marks it. Pure data.

/// Where a broker cell's answer comes from, as the reports mark it (in JSON
/// `{"source": "derived", "basis": "…"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Source {
    /// Measured: by this run (with nothing derived to hold it against) or in `conformance.toml`.
    Measured,
    /// Measured by this run, and the answer derived for it held.
    Held {
        /// The derived answer's basis.
        basis: String,
    },
    /// Measured by this run, and the answer derived for it did not hold.
    NotHeld {
        /// The answer that was derived.
        derived: String,
        /// Its basis.
        basis: String,
    },
    /// Not measured: the cell's words are the derived answer.
    Derived {
        /// Its basis.
        basis: String,
    },
    /// Neither measured nor derived.
    NotDerived {
        /// Why not.
        why: String,
    },
}

impl Source {
    /// How a report marks the cell, when it is not simply measured: the mark's name (as JSON's
    /// `source` and the HTML page's class spell it) and the words added to the answer.
    pub fn mark(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Source::Measured => None,
            Source::Held { .. } => Some(("held", "derived, held")),
            Source::NotHeld { .. } => Some(("not-held", "derived, did not hold")),
            Source::Derived { .. } => Some(("derived", "derived")),
            Source::NotDerived { .. } => Some(("not-derived", "not derived")),
        }
    }

    /// The basis or the reason, in words, when there is one.
    pub fn words(&self) -> Option<String> {
        match self {
            Source::Measured => None,
            Source::Held { basis } => Some(format!("derived from: {basis}")),
            Source::NotHeld { derived, basis } => Some(format!("derived {derived:?} from: {basis}")),
            Source::Derived { basis } => Some(format!("derived from: {basis}")),
            Source::NotDerived { why } => Some(format!("not derived: {why}")),
        }
    }
}

/// The words a not-derived cell shows in place of an answer.
pub const NOT_DERIVED: &str = "not derived";
