//! Pronounceable identity names (`Given_Family`, ASCII letters and one underscore),
//! unique ignoring case, drawn from a seed.

use crate::rng::Rng;

const ONSETS: [&str; 20] =
    ["b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "st", "tr", "sh"];
const VOWELS: [&str; 8] = ["a", "e", "i", "o", "u", "a", "e", "o"];
const CODAS: [&str; 8] = ["", "", "n", "r", "l", "s", "m", "k"];

fn word(syllables: usize, rng: &mut Rng) -> String {
    let mut w = String::new();
    for i in 0..syllables {
        w.push_str(ONSETS[rng.below(ONSETS.len())]);
        w.push_str(VOWELS[rng.below(VOWELS.len())]);
        if i + 1 == syllables {
            w.push_str(CODAS[rng.below(CODAS.len())]);
        }
    }
    let mut chars = w.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// `count` distinct names; the first `k` depend only on the seed, not on `count`.
pub fn names(count: usize, rng: &mut Rng) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(count);
    let mut taken = std::collections::HashSet::new();
    while out.len() < count {
        let given = word(2, rng);
        let family = word(2 + rng.below(2), rng);
        let name = format!("{given}_{family}");
        if taken.insert(name.to_ascii_uppercase()) {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_ignoring_case_and_plain_ascii() {
        let list = names(2000, &mut Rng::new(1));
        let upper: std::collections::HashSet<String> = list.iter().map(|n| n.to_ascii_uppercase()).collect();
        assert_eq!(upper.len(), 2000);
        for n in &list {
            assert!(n.chars().all(|c| c.is_ascii_alphabetic() || c == '_'), "{n}");
            assert_eq!(n.matches('_').count(), 1, "{n}");
        }
        assert_eq!(names(5, &mut Rng::new(1)), list[..5]);
    }
}
