//! Copies of a set's tags: `--copies N` starts every tag N times, as independent brokers with
//! their own cells, so a small set can put the load of a large one on the machine.
//!
//! A copy is a row of its own, named `TAG#K` (K from 1); with one copy the row is the tag.
//! `#` cannot occur in an image tag, so the image tag of any row is everything before it.

/// The row name of copy `k` (1-based) of `tag` when a run has `copies` of each tag.
pub fn row(tag: &str, k: u32, copies: u32) -> String {
    if copies <= 1 {
        tag.to_string()
    } else {
        format!("{tag}#{k}")
    }
}

/// The image tag a row runs: `bookworm#3` → `bookworm`; a plain tag is itself.
pub fn image_tag(row: &str) -> &str {
    row.split_once('#').map_or(row, |(tag, _)| tag)
}

/// The most copies a run may ask for.
pub const MAX_COPIES: u32 = 64;

/// Parses a number of copies: a whole number from 1 to [`MAX_COPIES`].
pub fn parse_copies(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_COPIES).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a number of copies; write a whole number from 1 to {MAX_COPIES}, as in 8")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_row_names_its_tag_and_number_and_reads_back_to_its_image_tag() {
        assert_eq!(row("bookworm", 3, 8), "bookworm#3");
        assert_eq!(image_tag("bookworm#3"), "bookworm");
        assert_eq!(row("2.0.11", 1, 1), "2.0.11");
        assert_eq!(image_tag("2.1.0-alpine"), "2.1.0-alpine");
    }

    #[test]
    fn copies_outside_one_to_the_maximum_are_refused_with_the_range() {
        assert_eq!(parse_copies(" 8 "), Ok(8));
        for bad in ["0", "65", "eight", "-1"] {
            assert!(parse_copies(bad).unwrap_err().contains("from 1 to 64"), "{bad}");
        }
    }
}
