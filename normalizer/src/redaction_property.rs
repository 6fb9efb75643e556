//! The property that redaction holds for every output: generated items and rule sets (drop
//! and hash, on leaves, maps, list elements by position and by `[]`, set elements), with a
//! tenant attribute and declared columns on parents and children of redacted paths, an
//! exploded list; an INSERT, a MODIFY and a REMOVE of the item are written to a lake folder,
//! and no dropped value, and no hashed value in clear, appears in any byte of any file under
//! it. A spec the rules make inconsistent must be refused, naming the rule and what it
//! conflicts with.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Read;

use proptest::prelude::*;

use crate::batch::{BatchOptions, Normalizer};
use crate::delivery::{process_event, Pipeline};
use crate::sink::LocalDirSink;
use lake_core::path::{AttributePath, Segment};
use lake_core::spec::LakeSpec;

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
    attributes: Vec<Shape>,
    rules: Vec<(prop::sample::Index, bool, bool)>,
    columns: Vec<(prop::sample::Index, bool)>,
    tenant: Option<prop::sample::Index>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(shape(), 1..5),
        prop::collection::vec((any::<prop::sample::Index>(), any::<bool>(), any::<bool>()), 1..5),
        prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..5),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(attributes, rules, columns, tenant)| Case { attributes, rules, columns, tenant })
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    // The item.
    let (mut next, mut nodes, mut image) = (0, Vec::new(), String::from(r#"{"pk":{"S":"p"},"sk":{"S":"s"}"#));
    for (i, a) in case.attributes.iter().enumerate() {
        let _ = write!(image, r#","a{i}":"#);
        build(a, &mut vec![Segment::Name(format!("a{i}"))], &mut next, &mut nodes, &mut image);
    }
    image.push('}');
    let candidates: Vec<AttributePath> =
        nodes.iter().flat_map(|n| std::iter::once(n.path.clone()).chain(with_each(&n.path))).collect();

    // The spec: the rules, a tenant attribute, columns on any node, an exploded list.
    let mut spec = String::from("[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n");
    if let Some(t) = &case.tenant {
        let _ = write!(spec, "[tenant]\nattribute = \"a{}\"\n", t.index(case.attributes.len()));
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
    if !case.columns.is_empty() {
        spec.push_str("[[tables]]\nname = \"cols\"\n");
        for (k, (at, _)) in case.columns.iter().enumerate() {
            let _ = write!(
                spec,
                "[[tables.columns]]\nname = \"c{k}\"\npath = \"{}\"\ntype = \"string\"\n",
                concrete[at.index(concrete.len())]
            );
        }
    }
    if let Some(list) = case.attributes.iter().position(|a| matches!(a, Shape::List(_))) {
        let _ = write!(spec, "[[tables]]\nname = \"exploded\"\nexplode = \"a{list}\"\n[[tables.columns]]\nname = \"element\"\npath = \"a{list}[]\"\ntype = \"string\"\n");
        if let Shape::List(items) = &case.attributes[list] {
            if let Some(Shape::Map(children)) = items.first() {
                for k in 0..children.len() {
                    let _ = write!(
                        spec,
                        "[[tables.columns]]\nname = \"m{k}\"\npath = \"a{list}[].m{k}\"\ntype = \"string\"\n"
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
                msg.contains("redaction rule `") && (msg.contains("column `") || msg.contains("tenant.attribute")),
                "{msg}\n{spec}"
            );
            return Ok(());
        }
    };

    // Written as the function writes: an INSERT, a MODIFY and a REMOVE.
    let rec = |seq: u32, name: &str, images: &str| {
        format!(
            r#"{{"eventID":"e{seq}","eventName":"{name}","dynamodb":{{"ApproximateCreationDateTime":1700000000,"Keys":{{"pk":{{"S":"p"}},"sk":{{"S":"s"}}}},{images}"SequenceNumber":"{seq}","SizeBytes":1,"StreamViewType":"NEW_AND_OLD_IMAGES"}}}}"#
        )
    };
    let event = format!(
        r#"{{"Records":[{},{},{}]}}"#,
        rec(1, "INSERT", &format!(r#""NewImage":{image},"#)),
        rec(2, "MODIFY", &format!(r#""NewImage":{image},"OldImage":{image},"#)),
        rec(3, "REMOVE", &format!(r#""OldImage":{image},"#)),
    );
    let dir = tempfile::tempdir().unwrap();
    let pipeline = Pipeline {
        normalizer: Normalizer::new(&spec, Some(b"property-test-key-16")).unwrap(),
        max_concurrent_uploads: 2,
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let report = rt
        .block_on(process_event(&pipeline, &LocalDirSink::new(dir.path()), &event, &BatchOptions::default()))
        .unwrap();
    prop_assert!(report.failed_objects.is_empty());
    let written = gunzip_all(dir.path());

    // No redacted token anywhere; the others are there.
    let mut redacted = BTreeSet::new();
    for rule in &rules {
        for n in nodes.iter().filter(|n| n.path.starts_with(rule)) {
            redacted.extend(n.tokens.iter().cloned());
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
