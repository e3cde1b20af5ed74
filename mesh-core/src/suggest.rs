//! "Did you mean": the nearest valid name for a misspelled one.

/// The candidate closest to `wrong`, if one is close enough to be a likely
/// typo: within a third of the longer name's length in edit distance
/// (Damerau-Levenshtein, so swapped letters count once).
///
/// ```
/// assert_eq!(mesh_core::suggest::closest("subnet", ["name", "subset", "labels"]), Some("subset"));
/// assert_eq!(mesh_core::suggest::closest("zzz", ["subset"]), None);
/// ```
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(wrong, c), c))
        .filter(|(d, c)| *d > 0 && *d * 3 <= wrong.len().max(c.len()).max(3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}
