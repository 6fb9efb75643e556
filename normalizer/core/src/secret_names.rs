//! The default drop's one rule: which attribute names look like secrets.
//!
//! An attribute whose name contains one of [`DEFAULT_SECRET_NAMES`] (ASCII case ignored), at
//! any depth, is dropped unless the spec says otherwise: a redaction rule on or under it,
//! `[redaction] keep`, or `default_drop = false`. The spec's check (which names the pattern in
//! its messages) and the writer's walks (which ask, for every attribute name, whether it
//! matches) both call [`SecretNames`], built once from the spec.

/// Parts of attribute names that look like secrets (docs/lake-spec.md lists them).
pub const DEFAULT_SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "credential",
    "privatekey",
    "private_key",
    "accesskey",
    "access_key",
    "authorization",
];

/// The names a spec's default drop takes: [`DEFAULT_SECRET_NAMES`] less the names it keeps.
#[derive(Debug, Clone)]
pub struct SecretNames {
    /// Whether the spec's default drop is on.
    on: bool,
    /// Names kept whole, in ASCII lowercase.
    keep: Vec<String>,
}

impl SecretNames {
    /// The rule of a spec with `default_drop` and the names it keeps (`keep`, any case).
    pub fn new(default_drop: bool, keep: &[String]) -> Self {
        SecretNames { on: default_drop, keep: keep.iter().map(|k| k.to_ascii_lowercase()).collect() }
    }

    /// Whether the default drop is on at all.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Whether the default drop takes an attribute of this name (before rules: the caller
    /// checks that no rule is on or under its path). One pass over the name.
    pub fn matches(&self, name: &str) -> bool {
        self.on && contains_secret_name(name.as_bytes()) && !self.kept(name)
    }

    /// The pattern that makes `name` look like a secret (the first of [`DEFAULT_SECRET_NAMES`]
    /// it contains, ASCII case ignored), or `None` when the default drop does not take it.
    /// Allocates nothing; the spec's messages name the pattern.
    pub fn pattern_in(&self, name: &str) -> Option<&'static str> {
        if !self.on || self.kept(name) {
            return None;
        }
        let contains =
            |pattern: &str| name.as_bytes().windows(pattern.len()).any(|w| w.eq_ignore_ascii_case(pattern.as_bytes()));
        DEFAULT_SECRET_NAMES.iter().copied().find(|p| contains(p))
    }

    fn kept(&self, name: &str) -> bool {
        self.keep.iter().any(|k| k.eq_ignore_ascii_case(name))
    }
}

/// The length of the shortest of [`DEFAULT_SECRET_NAMES`].
const SHORTEST: usize = {
    let mut shortest = usize::MAX;
    let mut i = 0;
    while i < DEFAULT_SECRET_NAMES.len() {
        if DEFAULT_SECRET_NAMES[i].len() < shortest {
            shortest = DEFAULT_SECRET_NAMES[i].len();
        }
        i += 1;
    }
    shortest
};

/// For each lowercase first letter of a pattern, the second letters that follow it (bit
/// `letter - 'a'`): a name position whose two letters are not here starts no pattern.
const OPENINGS: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < DEFAULT_SECRET_NAMES.len() {
        let p = DEFAULT_SECRET_NAMES[i].as_bytes();
        assert!(p[0].is_ascii_lowercase() && p[1].is_ascii_lowercase());
        table[p[0] as usize] |= 1 << (p[1] - b'a');
        i += 1;
    }
    table
};

/// Whether `name` contains one of [`DEFAULT_SECRET_NAMES`], ASCII case ignored. The writer
/// asks this for every attribute name: each position is tested by its two letters first, and
/// only a position that opens a pattern is compared with the patterns (an Aho-Corasick
/// automaton took about 230 instructions a name, mostly setting up each search).
fn contains_secret_name(name: &[u8]) -> bool {
    if name.len() < SHORTEST {
        return false;
    }
    // `b | 0x20` is an ASCII letter's lowercase and a letter only for a letter.
    name[..=name.len() - SHORTEST].iter().enumerate().any(|(i, &b)| {
        let seconds = OPENINGS[usize::from(b | 0x20)];
        seconds != 0 && {
            let second = name[i + 1] | 0x20;
            second.is_ascii_lowercase()
                && seconds & (1 << (second - b'a')) != 0
                && DEFAULT_SECRET_NAMES
                    .iter()
                    .any(|p| name[i..].get(..p.len()).is_some_and(|w| w.eq_ignore_ascii_case(p.as_bytes())))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_match_in_any_case_unless_kept_or_off() {
        let names = SecretNames::new(true, &["ApiTokenHint".to_owned()]);
        assert!(names.matches("apiToken") && names.matches("PASSWORD") && names.matches("x-api-key"));
        assert!(!names.matches("name") && !names.matches("apitokenhint"));
        // The first pattern of the list that the name contains, not the leftmost match.
        assert!(names.matches("tokenSecret"));
        assert_eq!(names.pattern_in("tokenSecret"), Some("secret"));
        assert_eq!(names.pattern_in("myAccessKey"), Some("accesskey"));
        assert_eq!(names.pattern_in("name"), None);
        let off = SecretNames::new(false, &[]);
        assert!(!off.is_on() && !off.matches("password") && off.pattern_in("password").is_none());
    }

    proptest! {
        /// The matcher finds a pattern exactly where a plain search of every window finds one:
        /// names made of pieces of the patterns, other letters, case changed.
        #[test]
        fn the_matcher_agrees_with_a_search_of_every_window(
            pieces in prop::collection::vec(
                prop_oneof![
                    prop::sample::select(DEFAULT_SECRET_NAMES).prop_map(str::to_owned),
                    prop::sample::select(DEFAULT_SECRET_NAMES).prop_flat_map(|p| (0..p.len(), 1..=p.len()).prop_map(move |(a, b)| p[a.min(b - 1)..b].to_owned())),
                    "[a-zA-Z_\\-0-9é]{0,4}",
                ],
                0..5,
            ),
            upper in any::<u64>(),
        ) {
            let name: String = pieces.concat().chars().enumerate()
                .map(|(i, c)| if upper >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect();
            let expected = DEFAULT_SECRET_NAMES.iter().any(|p| {
                name.as_bytes().windows(p.len()).any(|w| w.eq_ignore_ascii_case(p.as_bytes()))
            });
            prop_assert_eq!(contains_secret_name(name.as_bytes()), expected, "{}", name);
        }
    }
}
