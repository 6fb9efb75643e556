//! The default drop's one rule: which attribute names look like secrets.
//!
//! An attribute whose name contains one of [`DEFAULT_SECRET_NAMES`] (ASCII case ignored), at
//! any depth, is dropped unless the spec says otherwise: a redaction rule on or under it,
//! `[redaction] keep`, or `default_drop = false`. The spec's check (which names the pattern in
//! its messages) and the writer's walks (which ask, for every attribute name, whether it
//! matches) both call [`SecretNames`], built once from the spec.

use aho_corasick::AhoCorasick;

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
    /// The matcher of [`SecretNames::matches`], built on its first call: the writer asks it
    /// for every attribute name, the spec's checks (which make one of these per column) never.
    matcher: std::sync::OnceLock<AhoCorasick>,
}

impl SecretNames {
    /// The rule of a spec with `default_drop` and the names it keeps (`keep`, any case).
    pub fn new(default_drop: bool, keep: &[String]) -> Self {
        SecretNames {
            on: default_drop,
            keep: keep.iter().map(|k| k.to_ascii_lowercase()).collect(),
            matcher: std::sync::OnceLock::new(),
        }
    }

    /// Whether the default drop is on at all.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Whether the default drop takes an attribute of this name (before rules: the caller
    /// checks that no rule is on or under its path). One pass over the name.
    pub fn matches(&self, name: &str) -> bool {
        if !self.on {
            return false;
        }
        let matcher = self.matcher.get_or_init(|| {
            // The patterns are fixed ASCII words: building the matcher cannot fail.
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(DEFAULT_SECRET_NAMES)
                .expect("the default secret names build a matcher")
        });
        matcher.is_match(name) && !self.kept(name)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
