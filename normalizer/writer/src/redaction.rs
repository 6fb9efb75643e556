//! Redaction: which values of an item are dropped or hashed, decided in one place.
//!
//! A [`Redactor`] is built once from the spec (its `[[redaction.rule]]`s, the default drop of
//! names that look like secrets, the HMAC key) and asked at every step of every walk over an
//! item: the `attributes` rows and `changes.changed_attributes` ([`crate::flatten`]), declared
//! columns and the JSON of their containers, and the images of quarantined records
//! ([`crate::quarantine`]). A walk carries the rules still open on its path as an
//! `OpenRules` set and steps it down with `Redactor::step_onto` (map members: rules and
//! the default drop) or `Redactor::step_down` (list and set elements: rules only).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::record::{json_number, json_string, value_text, write_json, AttributeValue};
use ddb_lake_core::path::{AttributePath, Segment};
use ddb_lake_core::secret_names::SecretNames;
use ddb_lake_core::spec::{LakeSpec, RedactAction, Redaction};

/// Fewest bytes a redaction key may have.
pub const MIN_REDACTION_KEY_BYTES: usize = 16;

/// The redaction key is needed but missing or too short.
#[derive(Debug, thiserror::Error)]
pub enum RedactionKeyError {
    /// No key was given.
    #[error("the spec hashes values (a redaction rule has action = \"hash\") but no key was given: set {from} to a secret of at least {MIN_REDACTION_KEY_BYTES} bytes")]
    Missing {
        /// Where the key should come from (the environment variable the spec names).
        from: String,
    },
    /// The key given is shorter than [`MIN_REDACTION_KEY_BYTES`].
    #[error("the redaction key in {from} is {length} bytes long; it must be at least {MIN_REDACTION_KEY_BYTES} bytes (e.g. openssl rand -hex 32)")]
    TooShort {
        /// Where the key came from.
        from: String,
        /// Its length.
        length: usize,
    },
}

/// The rules of a spec still open on the path a walk is at: the set of their positions in
/// `[redaction]` (the spec allows at most 64 rules, so the set is one word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct OpenRules(u64);

impl OpenRules {
    /// No rule.
    pub(crate) const NONE: OpenRules = OpenRules(0);

    /// The first `n` rules (`n` ≤ 64).
    fn first(n: usize) -> Self {
        if n == 0 {
            OpenRules::NONE
        } else {
            OpenRules(u64::MAX >> (64 - n))
        }
    }

    /// Whether no rule is open.
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn contains(self, rule: usize) -> bool {
        self.0 & (1 << rule) != 0
    }

    fn with(self, rule: usize) -> Self {
        OpenRules(self.0 | 1 << rule)
    }
}

/// One step down an item: into a map member by name, or a list or set element by index.
#[derive(Clone, Copy)]
pub(crate) enum PathStep<'a> {
    Name(&'a str),
    Index(usize),
}

/// A spec's redaction, built once: its rules, the default drop and the hashing key.
pub struct Redactor<'s> {
    rules: &'s [Redaction],
    secrets: SecretNames,
    mac: Option<Hmac<Sha256>>,
}

impl<'s> Redactor<'s> {
    /// The redaction of `spec`. `key` (at least [`MIN_REDACTION_KEY_BYTES`]) is needed when a
    /// rule hashes; `key_source` (e.g. `the environment variable X`) is what errors name.
    pub fn new(spec: &'s LakeSpec, key: Option<&[u8]>, key_source: &str) -> Result<Self, RedactionKeyError> {
        let mac = match key {
            Some(k) if k.len() < MIN_REDACTION_KEY_BYTES && spec.needs_redaction_key() => {
                return Err(RedactionKeyError::TooShort { from: key_source.to_owned(), length: k.len() })
            }
            Some(k) if k.len() >= MIN_REDACTION_KEY_BYTES => Hmac::<Sha256>::new_from_slice(k).ok(),
            _ => None,
        };
        if spec.needs_redaction_key() && mac.is_none() {
            return Err(RedactionKeyError::Missing { from: key_source.to_owned() });
        }
        Ok(Redactor { rules: &spec.redactions, secrets: spec.secret_names(), mac })
    }

    /// Which rules stay on the path after stepping onto `seg` at `depth`.
    pub(crate) fn step(&self, active: OpenRules, depth: usize, seg: PathStep<'_>) -> OpenRules {
        if active.is_empty() {
            return OpenRules::NONE;
        }
        let mut next = OpenRules::NONE;
        for (k, rule) in self.rules.iter().enumerate() {
            let segs = &rule.path.0;
            if !active.contains(k) || segs.len() <= depth {
                continue;
            }
            let ok = match (&segs[depth], seg) {
                (Segment::Name(n), PathStep::Name(s)) => n == s,
                (Segment::Each, PathStep::Index(_)) => true,
                (Segment::Index(i), PathStep::Index(j)) => *i == j,
                _ => false,
            };
            if ok {
                next = next.with(k);
            }
        }
        next
    }

    /// The action of a rule that ends exactly at `depth` (drop wins over hash).
    pub(crate) fn action_at(&self, active: OpenRules, depth: usize) -> Option<RedactAction> {
        if active.is_empty() {
            return None;
        }
        let mut found = None;
        for (k, rule) in self.rules.iter().enumerate() {
            if active.contains(k) && rule.path.0.len() == depth {
                if rule.action == RedactAction::Drop {
                    return Some(RedactAction::Drop);
                }
                found = Some(rule.action);
            }
        }
        found
    }

    /// Every rule: what the walks start with at an item's root.
    pub(crate) fn all_rules(&self) -> OpenRules {
        OpenRules::first(self.rules.len())
    }

    /// Walks `segs` from the item's root (`position` standing for a `[]`, the element of an
    /// exploded table): the rules still on the path below it, and the action of a rule that
    /// covers it (a rule on the path itself or on a parent; drop wins over hash).
    pub(crate) fn along(&self, segs: &[Segment], position: Option<usize>) -> (OpenRules, Option<RedactAction>) {
        let mut active = self.all_rules();
        let mut action = None;
        for (depth, seg) in segs.iter().enumerate() {
            if active.is_empty() && (!self.secrets.is_on() || action.is_some()) {
                break;
            }
            let step = match seg {
                Segment::Name(n) => PathStep::Name(n),
                Segment::Index(i) => PathStep::Index(*i),
                Segment::Each => PathStep::Index(position.unwrap_or(usize::MAX)),
            };
            // Below a hashed parent the value is hashed whole: the default drop has no say.
            let (below, here) = if action.is_some() {
                self.step_down(active, depth, step)
            } else {
                self.step_onto(active, depth, step)
            };
            active = below;
            match here {
                Some(RedactAction::Drop) => return (OpenRules::NONE, Some(RedactAction::Drop)),
                Some(RedactAction::Hash) => action = Some(RedactAction::Hash),
                None => {}
            }
        }
        (active, action)
    }

    /// One step below `depth`: the rules still on the path, and the action of one that ends there.
    pub(crate) fn step_down(
        &self,
        active: OpenRules,
        depth: usize,
        seg: PathStep<'_>,
    ) -> (OpenRules, Option<RedactAction>) {
        let below = self.step(active, depth, seg);
        (below, self.action_at(below, depth + 1))
    }

    /// [`Redactor::step_down`], and onto a member whose name looks like a secret with no rule
    /// on its path, the default drop: the one place every walk (rows, columns, their JSON,
    /// quarantine images) decides it.
    pub(crate) fn step_onto(
        &self,
        active: OpenRules,
        depth: usize,
        seg: PathStep<'_>,
    ) -> (OpenRules, Option<RedactAction>) {
        let (below, action) = self.step_down(active, depth, seg);
        match seg {
            PathStep::Name(name) if action.is_none() && below.is_empty() && self.secrets.matches(name) => {
                (OpenRules::NONE, Some(RedactAction::Drop))
            }
            _ => (below, action),
        }
    }

    /// Whether a top-level attribute of this name is dropped whole: by a drop rule on it or by
    /// the default drop (a rule under it decides instead, as in the `attributes` walk).
    pub(crate) fn is_dropped_attribute(&self, name: &str) -> bool {
        self.step_onto(self.all_rules(), 0, PathStep::Name(name)).1 == Some(RedactAction::Drop)
    }

    /// Whether a value may need redacting below a point where the rules `active` are open:
    /// a rule is, or the default drop may take a name further down.
    pub(crate) fn may_redact_below(&self, active: OpenRules) -> bool {
        !active.is_empty() || self.secrets.is_on()
    }

    /// Whether redaction can reach the value at `path` at all: a rule on, above or below it,
    /// or a name on it that the default drop takes. Columns it cannot reach skip the walk.
    pub(crate) fn reaches(&self, path: &AttributePath) -> bool {
        self.rules.iter().any(|r| path.may_start_with(&r.path) || r.path.may_start_with(path))
            || path.0.iter().any(|s| matches!(s, Segment::Name(n) if self.secrets.matches(n)))
    }

    /// [`crate::record::write_json`] of a value at `depth` with the rules `active` on its path applied below
    /// it: a dropped map member is left out, a dropped list element is `null` (positions
    /// stay), a dropped set element is left out; a hashed value is its hash as a string.
    pub(crate) fn write_json_redacted(
        &self,
        v: &AttributeValue<'_>,
        depth: usize,
        active: OpenRules,
        out: &mut String,
    ) {
        if !self.may_redact_below(active) {
            return write_json(v, out);
        }
        match v {
            AttributeValue::M(m) => {
                out.push('{');
                let mut first = true;
                for (k, e) in m {
                    let (below, action) = self.step_onto(active, depth, PathStep::Name(k.as_str()));
                    if action == Some(RedactAction::Drop) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    json_string(k.as_str(), out);
                    out.push(':');
                    match action {
                        Some(_) => json_string(&self.hash(&value_text(e)), out),
                        None => self.write_json_redacted(e, depth + 1, below, out),
                    }
                }
                out.push('}');
            }
            AttributeValue::L(l) => {
                out.push('[');
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let (below, action) = self.step_down(active, depth, PathStep::Index(i));
                    match action {
                        Some(RedactAction::Drop) => out.push_str("null"),
                        Some(RedactAction::Hash) => json_string(&self.hash(&value_text(e)), out),
                        None => self.write_json_redacted(e, depth + 1, below, out),
                    }
                }
                out.push(']');
            }
            AttributeValue::Ss(s) | AttributeValue::Ns(s) | AttributeValue::Bs(s) => {
                out.push('[');
                let mut first = true;
                for (i, e) in s.iter().enumerate() {
                    let action = self.step_down(active, depth, PathStep::Index(i)).1;
                    if action == Some(RedactAction::Drop) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    match action {
                        Some(_) => json_string(&self.hash(e.as_str()), out),
                        None if matches!(v, AttributeValue::Ns(_)) => json_number(e.as_str(), out),
                        None => json_string(e.as_str(), out),
                    }
                }
                out.push(']');
            }
            other => write_json(other, out),
        }
    }

    /// The HMAC-SHA256 of `text` under the key, as lowercase hex (the key is there whenever a
    /// rule hashes: [`Redactor::new`] refuses a spec that hashes without one).
    pub(crate) fn hash(&self, text: &str) -> String {
        let Some(mac) = &self.mac else { return String::new() };
        let mut m = mac.clone();
        m.update(text.as_bytes());
        hex(&m.finalize().into_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
