//! The property that redaction holds for every output: generated items and rule sets (drop
//! and hash, on leaves, maps, list elements by position and by `[]`, set elements), with a
//! tenant attribute and declared columns on parents and children of redacted paths, an
//! exploded list, attributes whose names look like secrets (dropped by default), and
//! sometimes a column whose type the value does not fit (a `_rejects` row) or an attribute of
//! a type DynamoDB does not have (so the records are quarantined whole); an
//! INSERT, a MODIFY and a REMOVE of the item are written to a lake folder, and no dropped
//! value, and no hashed value in clear, appears in any byte of any file under it, the
//! quarantine objects included. A spec the rules make inconsistent must be refused, naming
//! the rule (or the default) and what it conflicts with.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Read;

use proptest::prelude::*;

use crate::batch::BatchOptions;
use crate::delivery::{process_event, Pipeline};
use crate::normalizer::Normalizer;
use crate::sink::LocalDirSink;
use ddb_lake_core::path::{AttributePath, Segment};
use ddb_lake_core::spec::LakeSpec;

#[derive(Debug, Clone)]
enum Shape {
    Leaf,
    Set(usize),
    Map(Vec<Shape>),
    List(Vec<Shape>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![3 => Just(Shape::Leaf), 1 => (1usize..4).prop_map(Shape::Set)];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Shape::Map),
            prop::collection::vec(inner, 1..4).prop_map(Shape::List),
        ]
    })
}

/// One node of the generated item: its concrete path and the tokens of the leaves under it.
struct Node {
    path: AttributePath,
    tokens: Vec<String>,
}

/// Builds the item's DynamoDB JSON, every string a unique token (`SeCrEt<n>X`: no hash, row
/// or JSON escape can produce it by chance), and lists its nodes.
fn build(
    shape: &Shape,
    path: &mut Vec<Segment>,
    next: &mut usize,
    nodes: &mut Vec<Node>,
    out: &mut String,
) -> Vec<String> {
    fn token(next: &mut usize) -> String {
        *next += 1;
        format!("SeCrEt{next}X")
    }
    let tokens = match shape {
        Shape::Leaf => {
            let t = token(next);
            let _ = write!(out, r#"{{"S":"{t}"}}"#);
            vec![t]
        }
        Shape::Set(n) => {
            let ts: Vec<String> = (0..*n).map(|_| token(next)).collect();
            let _ =
                write!(out, r#"{{"SS":[{}]}}"#, ts.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(","));
            for (i, t) in ts.iter().enumerate() {
                let mut p = path.clone();
                p.push(Segment::Index(i));
                nodes.push(Node { path: AttributePath(p), tokens: vec![t.clone()] });
            }
            ts
        }
        Shape::Map(children) => {
            out.push_str(r#"{"M":{"#);
            let mut all = Vec::new();
            for (i, c) in children.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, r#""m{i}":"#);
                path.push(Segment::Name(format!("m{i}")));
                all.extend(build(c, path, next, nodes, out));
                path.pop();
            }
            out.push_str("}}");
            all
        }
        Shape::List(children) => {
            out.push_str(r#"{"L":["#);
            let mut all = Vec::new();
            for (i, c) in children.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                path.push(Segment::Index(i));
                all.extend(build(c, path, next, nodes, out));
                path.pop();
            }
            out.push_str("]}");
            all
        }
    };
    nodes.push(Node { path: AttributePath(path.clone()), tokens: tokens.clone() });
    tokens
}

/// The path with its first position (if any) written as `[]`.
fn with_each(path: &AttributePath) -> Option<AttributePath> {
    let at = path.0.iter().position(|s| matches!(s, Segment::Index(_)))?;
    let mut p = path.clone();
    p.0[at] = Segment::Each;
    Some(p)
}

fn gunzip_all(dir: &std::path::Path) -> String {
    let mut text = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                // Object names too: nothing may reach a key either.
                text.push_str(&p.to_string_lossy());
                flate2::read::MultiGzDecoder::new(std::fs::File::open(&p).unwrap()).read_to_string(&mut text).unwrap();
            }
        }
    }
    text
}

#[derive(Debug, Clone)]
struct Case {
    /// Attributes, each with whether its name looks like a secret (`a<i>Token`).
    attributes: Vec<(Shape, bool)>,
    rules: Vec<(prop::sample::Index, bool, bool)>,
    columns: Vec<prop::sample::Index>,
    tenant: Option<prop::sample::Index>,
    /// A `bigint` column on a string: a NULL cell and a `_rejects` row.
    conflict: bool,
    /// An attribute of a type DynamoDB does not have: the records do not decode and are
    /// quarantined whole.
    undecodable: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((shape(), prop::bool::weighted(0.2)), 1..5),
        prop::collection::vec((any::<prop::sample::Index>(), any::<bool>(), any::<bool>()), 0..5),
        prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        prop::option::of(any::<prop::sample::Index>()),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(attributes, rules, columns, tenant, conflict, undecodable)| Case {
            attributes,
            rules,
            columns,
            tenant,
            conflict,
            undecodable,
        })
}

fn attribute_name(i: usize, secret: bool) -> String {
    if secret {
        format!("a{i}Token")
    } else {
        format!("a{i}")
    }
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    // The item.
    let (mut next, mut nodes, mut image) = (0, Vec::new(), String::from(r#"{"pk":{"S":"p"},"sk":{"S":"s"}"#));
    for (i, (a, secret)) in case.attributes.iter().enumerate() {
        let name = attribute_name(i, *secret);
        let _ = write!(image, r#","{name}":"#);
        build(a, &mut vec![Segment::Name(name)], &mut next, &mut nodes, &mut image);
    }
    if case.undecodable {
        image.push_str(r#","zz":{"DATE":"2026-11-01"}"#);
    }
    image.push('}');
    let candidates: Vec<AttributePath> =
        nodes.iter().flat_map(|n| std::iter::once(n.path.clone()).chain(with_each(&n.path))).collect();

    // The spec: the rules, a tenant attribute, columns on any node, an exploded list.
    let mut spec = String::from("[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n");
    if let Some(t) = &case.tenant {
        let i = t.index(case.attributes.len());
        let _ = write!(spec, "[tenant]\nattribute = \"{}\"\n", attribute_name(i, case.attributes[i].1));
    }
    spec.push_str("[redaction]\n");
    let mut rules = Vec::new();
    for (at, hash, each) in &case.rules {
        let concrete = &nodes[at.index(nodes.len())].path;
        let path = if *each { with_each(concrete).unwrap_or_else(|| concrete.clone()) } else { concrete.clone() };
        let _ = write!(
            spec,
            "[[redaction.rule]]\npath = \"{path}\"\naction = \"{}\"\n",
            if *hash { "hash" } else { "drop" }
        );
        rules.push(path);
    }
    let concrete: Vec<&AttributePath> = candidates.iter().filter(|p| !p.has_each()).collect();
    let leaf = case.attributes.iter().position(|(a, _)| matches!(a, Shape::Leaf));
    let conflict = case.conflict && leaf.is_some();
    if !case.columns.is_empty() || conflict {
        spec.push_str("[[tables]]\nname = \"cols\"\n");
        for (k, at) in case.columns.iter().enumerate() {
            let path = concrete[at.index(concrete.len())];
            let _ = write!(spec, "[[tables.columns]]\nname = \"c{k}\"\npath = \"{path}\"\ntype = \"string\"\n");
        }
        if let (true, Some(i)) = (conflict, leaf) {
            let name = attribute_name(i, case.attributes[i].1);
            let _ = write!(spec, "[[tables.columns]]\nname = \"conflict\"\npath = \"{name}\"\ntype = \"bigint\"\n");
        }
    }
    if let Some(list) = case.attributes.iter().position(|(a, _)| matches!(a, Shape::List(_))) {
        let name = attribute_name(list, case.attributes[list].1);
        let _ = write!(spec, "[[tables]]\nname = \"exploded\"\nexplode = \"{name}\"\n");
        let _ = write!(spec, "[[tables.columns]]\nname = \"element\"\npath = \"{name}[]\"\ntype = \"string\"\n");
        if let (Shape::List(items), _) = &case.attributes[list] {
            if let Some(Shape::Map(children)) = items.first() {
                for k in 0..children.len() {
                    let _ = write!(
                        spec,
                        "[[tables.columns]]\nname = \"m{k}\"\npath = \"{name}[].m{k}\"\ntype = \"string\"\n"
                    );
                }
            }
        }
    }
    let spec = match LakeSpec::from_toml(&spec, "case.toml") {
        Ok(s) => s,
        Err(e) => {
            // Refused: it names the rule and what it conflicts with.
            let msg = e.to_string();
            prop_assert!(
                (msg.contains("redaction rule `") || msg.contains("looks like a secret"))
                    && (msg.contains("column `") || msg.contains("tenant.attribute")),
                "{msg}\n{spec}"
            );
            return Ok(());
        }
    };

    // Written as the function writes: the insert, modify and remove fixtures with the case's
    // item as their images.
    let image: serde_json::Value = serde_json::from_str(&image).unwrap();
    let rec = |fixture: &str| {
        let mut r = crate::test_events::record(fixture);
        let change = &mut r["dynamodb"];
        change["Keys"] = serde_json::json!({"pk": image["pk"], "sk": image["sk"]});
        for side in ["NewImage", "OldImage"] {
            if change.get(side).is_some() {
                change[side] = image.clone();
            }
        }
        r
    };
    let event = crate::test_events::event_of(vec![rec("insert.json"), rec("modify.json"), rec("remove.json")]);
    let dir = tempfile::tempdir().unwrap();
    let pipeline =
        Pipeline::new(Normalizer::new(&spec, Some(b"property-test-key-16")).unwrap()).with_max_concurrent_uploads(2);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let report = rt
        .block_on(process_event(&pipeline, &LocalDirSink::new(dir.path()), &event, &BatchOptions::default()))
        .unwrap();
    prop_assert!(report.failed_objects.is_empty());
    prop_assert_eq!(report.output.quarantined.len(), if case.undecodable { 3 } else { 0 });
    // The INSERT and the MODIFY carry the value that does not fit.
    prop_assert_eq!(report.output.cells_rejected(), if conflict && !case.undecodable { 2 } else { 0 });
    let written = gunzip_all(dir.path());

    // No redacted token anywhere; the others are there. The default drop takes a
    // secret-looking attribute unless a rule is on it, under it or above it.
    let mut redacted = BTreeSet::new();
    for rule in &rules {
        for n in nodes.iter().filter(|n| n.path.starts_with(rule)) {
            redacted.extend(n.tokens.iter().cloned());
        }
    }
    for (i, (_, secret)) in case.attributes.iter().enumerate() {
        let top = AttributePath(vec![Segment::Name(attribute_name(i, *secret))]);
        if *secret && !rules.iter().any(|r| r.may_start_with(&top) || top.may_start_with(r)) {
            for n in nodes.iter().filter(|n| n.path.starts_with(&top)) {
                redacted.extend(n.tokens.iter().cloned());
            }
        }
    }
    for t in &redacted {
        prop_assert!(!written.contains(t.as_str()), "{t} is redacted but was written\n{spec:?}");
    }
    let kept: Vec<&String> = nodes.iter().flat_map(|n| &n.tokens).filter(|t| !redacted.contains(*t)).collect();
    if let Some(t) = kept.first() {
        prop_assert!(written.contains(t.as_str()), "{t} is not redacted and should be in the attributes table");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_redacted_value_reaches_any_output(case in case()) {
        check(&case)?;
    }
}
