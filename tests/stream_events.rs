//! The stream event fixtures (`tests/fixtures/events/`, one file per case): each has the shape
//! Lambda delivers, and each lands in the lake as exactly the rows written out here, byte for
//! byte, as `docs/row-format.md` says they are written. The expected rows are read off the
//! fixture by hand, not produced by the code under test.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

mod helpers;

use flate2::read::MultiGzDecoder;
use helpers::ddb_lake_ok as ok;
use helpers::fixtures::{event_path, events_dir};

fn example_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/sync-configurations.toml")
}

/// Normalizes the fixtures `names` (in this order, each as one batch of shard `shard-1`) into
/// `lake` with the example spec.
fn normalize(lake: &Path, names: &[&str]) {
    for name in names {
        let events = event_path(name);
        let (spec, events, out) = (example_spec(), events.to_str().unwrap(), lake.to_str().unwrap());
        ok(&["normalize", "--spec", spec.to_str().unwrap(), "--events", events, "--out", out, "--source", "shard-1"]);
    }
}

/// Every object of a lake folder: key → its text, gunzipped.
fn objects(lake: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![lake.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let mut text = String::new();
            MultiGzDecoder::new(std::fs::File::open(&path).unwrap()).read_to_string(&mut text).unwrap();
            out.insert(path.strip_prefix(lake).unwrap().to_string_lossy().into_owned(), text);
        }
    }
    out
}

/// Rows of raw fields (as they are written, escapes included) → the object's text.
fn tsv(rows: &[Vec<&str>]) -> String {
    rows.iter().map(|r| r.join("\t") + "\n").collect()
}

/// `prefix` followed by `rest`.
fn row<'a>(prefix: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    [prefix, rest].concat()
}

const COMMON: [&str; 7] = ["event_name", "sequence_number", "event_time", "tenant", "item_key", "pk", "sk"];
const CHANGES: [&str; 6] =
    ["event_id", "stream_view_type", "size_bytes", "ttl_delete", "principal", "changed_attributes"];
const ATTRIBUTES: [&str; 4] = ["path", "type", "value", "changed"];
const SYNC_CONFIGS: [&str; 8] =
    ["client_key", "sync_id", "enabled", "interval_minutes", "timezone", "synced_issues", "error_code", "version"];
const FIELD_MAPPINGS: [&str; 6] = ["element_index", "client_key", "field_id", "mapping", "direction", "transform"];

fn header(rest: &[&'static str]) -> Vec<&'static str> {
    row(&COMMON, rest)
}

/// Asserts that `lake` holds exactly `expected` (key → rows), comparing each object's whole text.
fn assert_lake(lake: &Path, expected: &[(&str, Vec<Vec<&str>>)]) {
    let got = objects(lake);
    let want: BTreeMap<String, String> = expected.iter().map(|(k, rows)| (k.to_string(), tsv(rows))).collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "objects of {}", lake.display());
    for (key, text) in &want {
        assert_eq!(&got[key], text, "{key}");
    }
}

const KEY_42: &str = r#"{"pk":"CLIENT#c0042","sk":"SYNC#1a2b3c4d"}"#;

#[test]
fn an_insert_writes_its_change_every_leaf_and_each_declared_table() {
    let dir = tempfile::tempdir().unwrap();
    normalize(dir.path(), &["insert.json"]);
    let p = ["INSERT", "98000000000000000000001", "2026-11-05 12:00:00.000", "client-42", KEY_42, "CLIENT#c0042"];
    let p = [&p[..], &["SYNC#1a2b3c4d"]].concat();
    let name = "shard-1_98000000000000000000001_98000000000000000000001.tsv.gz";
    let attributes = [
        ["pk", "S", "CLIENT#c0042"],
        ["sk", "S", "SYNC#1a2b3c4d"],
        ["clientKey", "S", "client-42"],
        ["syncId", "S", "1a2b3c4d"],
        ["enabled", "BOOL", "true"],
        ["schedule.intervalMinutes", "N", "15"],
        ["schedule.timezone", "S", "Europe/Berlin"],
        ["fieldMappings[0].fieldId", "S", "summary"],
        ["fieldMappings[0].mapping", "S", "subject"],
        ["fieldMappings[0].direction", "S", "both"],
        ["fieldMappings[1].fieldId", "S", "priority"],
        ["fieldMappings[1].mapping", "S", "priority"],
        ["fieldMappings[1].direction", "S", "outbound"],
        ["fieldMappings[1].transform", "S", "lowercase"],
        ["counters.syncedIssues", "N", "0"],
        ["version", "N", "1"],
    ];
    let mut attribute_rows = vec![header(&ATTRIBUTES)];
    // An INSERT changes every leaf.
    attribute_rows.extend(attributes.iter().map(|a| row(&p, &[a[0], a[1], a[2], "true"])));
    assert_lake(
        dir.path(),
        &[
            (&format!("attributes/dt=2026-11-05/{name}"), attribute_rows),
            (
                &format!("changes/dt=2026-11-05/{name}"),
                vec![
                    header(&CHANGES),
                    row(
                        &p,
                        &[
                            "c81e728d9d4c2f636f067f89cc14862c",
                            "NEW_AND_OLD_IMAGES",
                            "312",
                            "false",
                            "\\N",
                            "clientKey,counters,enabled,fieldMappings,pk,schedule,sk,syncId,version",
                        ],
                    ),
                ],
            ),
            (
                &format!("field_mappings/dt=2026-11-05/{name}"),
                vec![
                    header(&FIELD_MAPPINGS),
                    row(&p, &["0", "client-42", "summary", "subject", "both", "\\N"]),
                    row(&p, &["1", "client-42", "priority", "priority", "outbound", "lowercase"]),
                ],
            ),
            (
                &format!("sync_configs/dt=2026-11-05/{name}"),
                vec![
                    header(&SYNC_CONFIGS),
                    row(&p, &["client-42", "1a2b3c4d", "true", "15", "Europe/Berlin", "0", "\\N", "1"]),
                ],
            ),
        ],
    );
}

#[test]
fn a_modify_marks_what_changed_and_keeps_all_38_digits() {
    let dir = tempfile::tempdir().unwrap();
    normalize(dir.path(), &["modify.json"]);
    let p = ["MODIFY", "100000000000000000000002", "2026-11-06 12:00:00.000", "client-42", KEY_42, "CLIENT#c0042"];
    let p = [&p[..], &["SYNC#1a2b3c4d"]].concat();
    let name = "shard-1_100000000000000000000002_100000000000000000000002.tsv.gz";
    // The new image's leaves; `changed` compares each with the old image.
    let attributes = [
        ["pk", "S", "CLIENT#c0042", "false"],
        ["sk", "S", "SYNC#1a2b3c4d", "false"],
        ["clientKey", "S", "client-42", "false"],
        ["syncId", "S", "1a2b3c4d", "false"],
        ["enabled", "BOOL", "false", "true"],
        ["schedule.intervalMinutes", "N", "30", "true"],
        ["schedule.timezone", "S", "Europe/Berlin", "false"],
        ["fieldMappings[0].fieldId", "S", "summary", "false"],
        ["fieldMappings[0].mapping", "S", "subject", "false"],
        ["fieldMappings[0].direction", "S", "both", "false"],
        ["counters.syncedIssues", "N", "12345678901234567890123456789012345678", "true"],
        ["lastError.code", "S", "JIRA_401", "true"],
        ["lastError.message", "S", "token expired", "true"],
        ["version", "N", "2", "true"],
    ];
    let mut attribute_rows = vec![header(&ATTRIBUTES)];
    attribute_rows.extend(attributes.iter().map(|a| row(&p, a)));
    assert_lake(
        dir.path(),
        &[
            (&format!("attributes/dt=2026-11-06/{name}"), attribute_rows),
            (
                &format!("changes/dt=2026-11-06/{name}"),
                vec![
                    header(&CHANGES),
                    row(
                        &p,
                        &[
                            "eccbc87e4b5ce2fe28308fd9f2a7baf3",
                            "NEW_AND_OLD_IMAGES",
                            "497",
                            "false",
                            "\\N",
                            // The second field mapping went: `fieldMappings` changed.
                            "counters,enabled,fieldMappings,lastError,schedule,version",
                        ],
                    ),
                ],
            ),
            (
                &format!("field_mappings/dt=2026-11-06/{name}"),
                vec![header(&FIELD_MAPPINGS), row(&p, &["0", "client-42", "summary", "subject", "both", "\\N"])],
            ),
            (
                &format!("sync_configs/dt=2026-11-06/{name}"),
                vec![
                    header(&SYNC_CONFIGS),
                    row(
                        &p,
                        &[
                            "client-42",
                            "1a2b3c4d",
                            "false",
                            "30",
                            "Europe/Berlin",
                            "12345678901234567890123456789012345678",
                            "JIRA_401",
                            "2",
                        ],
                    ),
                ],
            ),
        ],
    );
}

#[test]
fn a_remove_and_a_ttl_expiry_write_only_their_change() {
    let dir = tempfile::tempdir().unwrap();
    normalize(dir.path(), &["remove.json", "ttl_delete.json"]);
    let user = ["REMOVE", "100000000000000000000003", "2026-11-06 13:00:00.000", "client-42", KEY_42, "CLIENT#c0042"];
    let user = [&user[..], &["SYNC#1a2b3c4d"]].concat();
    let ttl = [
        "REMOVE",
        "99000000000000000000017",
        "2026-10-26 07:53:54.000",
        "client-7",
        r#"{"pk":"CLIENT#c0007","sk":"SYNC#5e6f7a8b"}"#,
        "CLIENT#c0007",
        "SYNC#5e6f7a8b",
    ];
    assert_lake(
        dir.path(),
        &[
            (
                "changes/dt=2026-10-26/shard-1_99000000000000000000017_99000000000000000000017.tsv.gz",
                vec![
                    header(&CHANGES),
                    row(
                        &ttl,
                        &[
                            "e4da3b7fbbce2345d7772b0674a318d5",
                            "NEW_AND_OLD_IMAGES",
                            "118",
                            "true",
                            "dynamodb.amazonaws.com",
                            "clientKey,enabled,pk,sk,syncId,ttl,version",
                        ],
                    ),
                ],
            ),
            (
                "changes/dt=2026-11-06/shard-1_100000000000000000000003_100000000000000000000003.tsv.gz",
                vec![
                    header(&CHANGES),
                    row(
                        &user,
                        &[
                            "a87ff679a2f3e71d9181a67b7542122c",
                            "NEW_AND_OLD_IMAGES",
                            "402",
                            "false",
                            "\\N",
                            "clientKey,counters,enabled,fieldMappings,lastError,pk,schedule,sk,syncId,version",
                        ],
                    ),
                ],
            ),
        ],
    );
}

#[test]
fn each_stream_view_type_writes_what_its_images_hold() {
    let dir = tempfile::tempdir().unwrap();
    normalize(dir.path(), &["keys_only.json", "new_image.json", "old_image.json"]);
    let key = r#"{"pk":"CLIENT#c0099","sk":"SYNC#0a0b0c0d"}"#;
    // KEYS_ONLY: no image, so no tenant (it is an attribute) and no changed attributes.
    let keys_only = ["MODIFY", "98000000000000000000021", "2026-11-05 13:00:00.000", "\\N", key, "CLIENT#c0099"];
    let keys_only = [&keys_only[..], &["SYNC#0a0b0c0d"]].concat();
    let new = ["MODIFY", "98000000000000000000022", "2026-11-05 13:00:01.000", "client-99", key, "CLIENT#c0099"];
    let new = [&new[..], &["SYNC#0a0b0c0d"]].concat();
    let old = ["MODIFY", "98000000000000000000023", "2026-11-05 13:00:02.000", "client-99", key, "CLIENT#c0099"];
    let old = [&old[..], &["SYNC#0a0b0c0d"]].concat();
    let one = |seq: &str| format!("dt=2026-11-05/shard-1_{seq}_{seq}.tsv.gz");
    // NEW_IMAGE: every leaf, with `changed` unknown (no old image to compare with).
    let mut attribute_rows = vec![header(&ATTRIBUTES)];
    attribute_rows.extend(
        [
            ["pk", "S", "CLIENT#c0099"],
            ["sk", "S", "SYNC#0a0b0c0d"],
            ["clientKey", "S", "client-99"],
            ["syncId", "S", "0a0b0c0d"],
            ["enabled", "BOOL", "true"],
            ["schedule.intervalMinutes", "N", "60"],
            ["schedule.timezone", "S", "UTC"],
            ["version", "N", "8"],
        ]
        .iter()
        .map(|a| row(&new, &[a[0], a[1], a[2], "\\N"])),
    );
    let change = |p: &[&'static str], id: &'static str, view: &'static str, size: &'static str| {
        vec![header(&CHANGES), row(p, &[id, view, size, "false", "\\N", "\\N"])]
    };
    assert_lake(
        dir.path(),
        &[
            (&format!("attributes/{}", one("98000000000000000000022")), attribute_rows),
            (
                &format!("changes/{}", one("98000000000000000000021")),
                change(&keys_only, "1679091c5a880faf6fb5e6087eb1b2dc", "KEYS_ONLY", "48"),
            ),
            (
                &format!("changes/{}", one("98000000000000000000022")),
                change(&new, "8f14e45fceea167a5a36dedd4bea2543", "NEW_IMAGE", "171"),
            ),
            // OLD_IMAGE: the change only; there is no new state to write.
            (
                &format!("changes/{}", one("98000000000000000000023")),
                change(&old, "c9f0f895fb98ab9159f51fd0297e236d", "OLD_IMAGE", "171"),
            ),
            (
                &format!("sync_configs/{}", one("98000000000000000000022")),
                vec![
                    header(&SYNC_CONFIGS),
                    row(&new, &["client-99", "0a0b0c0d", "true", "60", "UTC", "\\N", "\\N", "8"]),
                ],
            ),
        ],
    );
}

#[test]
fn every_attribute_type_and_every_escape_survives() {
    let dir = tempfile::tempdir().unwrap();
    normalize(dir.path(), &["every_type.json"]);
    let key = r#"{"pk":"CLIENT#c0100","sk":"SYNC#types"}"#;
    let types = ["INSERT", "98000000000000000000031", "2026-11-05 14:00:00.000", "client-100", key, "CLIENT#c0100"];
    let types = [&types[..], &["SYNC#types"]].concat();
    let key = r#"{"pk":"CLIENT#c0100","sk":"SYNC#empty"}"#;
    let empty = ["INSERT", "98000000000000000000032", "2026-11-05 14:00:01.000", "client-100", key, "CLIENT#c0100"];
    let empty = [&empty[..], &["SYNC#empty"]].concat();
    let name = "dt=2026-11-05/shard-1_98000000000000000000031_98000000000000000000032.tsv.gz";
    // As written (docs/row-format.md): `\N` is NULL, text `\N` is `\\N`; a TAB or a backslash
    // gets a backslash before it; LF and CR become ␊ and ␍, and a value's own ␊ gets ␛.
    let leaves = [
        ["pk", "S", "CLIENT#c0100"],
        ["sk", "S", "SYNC#types"],
        ["clientKey", "S", "client-100"],
        ["syncId", "S", "types"],
        ["name", "S", "Zoë's sync — 日本語 🦀"],
        ["note", "S", ""],
        ["literalNull", "S", "\\\\N"],
        ["multiline", "S", "line one␊line two␍␊\\\tC:\\\\temp ␛␊"],
        ["enabled", "BOOL", "false"],
        ["deletedAt", "NULL", "\\N"],
        ["checksum", "B", "c2hhMjU2IG9mIGZpeHR1cmUgY2hlY2tzdW0AAf8="],
        ["labels[0]", "SS", "jira"],
        ["labels[1]", "SS", "zendesk"],
        ["labels[2]", "SS", "ünïcode"],
        ["weights[0]", "NS", "2.5"],
        ["weights[1]", "NS", "-0.000001"],
        ["weights[2]", "NS", "12345678901234567890123456789012345678"],
        ["blobs[0]", "BS", "AAEqQQ=="],
        ["blobs[1]", "BS", "QSoBAA=="],
        ["tags[0]", "S", "loose"],
        ["tags[1]", "N", "7"],
        ["tags[2]", "L", "\\N"],
        ["tags[3]", "M", "\\N"],
        ["settings.nested.deep", "S", "x"],
        ["settings.empty", "M", "\\N"],
        ["schedule.intervalMinutes", "N", "5"],
        ["schedule.timezone", "S", "Asia/Tōkyō"],
        ["fieldMappings[0].fieldId", "S", "customfield_10010"],
        ["fieldMappings[0].mapping", "S", "tab\\\there"],
        ["fieldMappings[0].direction", "S", "inbound"],
        ["counters.syncedIssues", "N", "99999999999999999999999999999999999999"],
        ["version", "N", "3"],
    ];
    let mut attribute_rows = vec![header(&ATTRIBUTES)];
    attribute_rows.extend(leaves.iter().map(|a| row(&types, &[a[0], a[1], a[2], "true"])));
    attribute_rows.extend(
        [
            ["pk", "S", "CLIENT#c0100"],
            ["sk", "S", "SYNC#empty"],
            ["clientKey", "S", "client-100"],
            ["syncId", "S", "empty"],
            ["fieldMappings", "L", "\\N"],
        ]
        .iter()
        .map(|a| row(&empty, &[a[0], a[1], a[2], "true"])),
    );
    let all_names = "blobs,checksum,clientKey,counters,deletedAt,enabled,fieldMappings,labels,literalNull,multiline,\
                     name,note,pk,schedule,settings,sk,syncId,tags,version,weights";
    assert_lake(
        dir.path(),
        &[
            (&format!("attributes/{name}"), attribute_rows),
            (
                &format!("changes/{name}"),
                vec![
                    header(&CHANGES),
                    row(
                        &types,
                        &["45c48cce2e2d7fbdea1afc51c7c6ad26", "NEW_AND_OLD_IMAGES", "842", "false", "\\N", all_names],
                    ),
                    row(
                        &empty,
                        &[
                            "d3d9446802a44259755d38e6d163e820",
                            "NEW_AND_OLD_IMAGES",
                            "97",
                            "false",
                            "\\N",
                            "clientKey,fieldMappings,pk,sk,syncId",
                        ],
                    ),
                ],
            ),
            // An empty list explodes into no rows.
            (
                &format!("field_mappings/{name}"),
                vec![
                    header(&FIELD_MAPPINGS),
                    row(&types, &["0", "client-100", "customfield_10010", "tab\\\there", "inbound", "\\N"]),
                ],
            ),
            (
                &format!("sync_configs/{name}"),
                vec![
                    header(&SYNC_CONFIGS),
                    row(
                        &types,
                        &[
                            "client-100",
                            "types",
                            "false",
                            "5",
                            "Asia/Tōkyō",
                            "99999999999999999999999999999999999999",
                            "\\N",
                            "3",
                        ],
                    ),
                    row(&empty, &["client-100", "empty", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N"]),
                ],
            ),
        ],
    );
}

/// An ad-hoc query's CSV answer on a local lake with the example spec.
fn query(lake: &Path, sql: &str) -> String {
    let spec = example_spec();
    ok(&["sql", "query", sql, "--local", lake.to_str().unwrap(), "--spec", spec.to_str().unwrap(), "--format", "csv"])
}

#[test]
fn the_current_state_is_the_latest_record_by_number_and_a_remove_is_a_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    // The MODIFY's sequence number (24 digits) is the later one, though it sorts first as text.
    assert!("100000000000000000000002" < "98000000000000000000001");
    normalize(dir.path(), &["insert.json", "modify.json", "every_type.json"]);
    assert_eq!(
        query(dir.path(), "SELECT sk, event_name, sequence_number FROM current_items ORDER BY sk"),
        "sk,event_name,sequence_number\n\
         SYNC#1a2b3c4d,MODIFY,100000000000000000000002\n\
         SYNC#empty,INSERT,98000000000000000000032\n\
         SYNC#types,INSERT,98000000000000000000031\n"
    );
    assert_eq!(
        query(
            dir.path(),
            "SELECT sk, enabled, interval_minutes, synced_issues, version FROM current_sync_configs ORDER BY sk"
        ),
        "sk,enabled,interval_minutes,synced_issues,version\n\
         SYNC#1a2b3c4d,false,30,12345678901234567890123456789012345678,2\n\
         SYNC#empty,,,,\n\
         SYNC#types,false,5,99999999999999999999999999999999999999,3\n"
    );
    assert_eq!(
        query(dir.path(), "SELECT field_id, mapping FROM current_field_mappings ORDER BY field_id"),
        "field_id,mapping\ncustomfield_10010,tab\there\nsummary,subject\n"
    );

    normalize(dir.path(), &["remove.json"]);
    assert_eq!(
        query(dir.path(), "SELECT sk FROM current_items ORDER BY sk"),
        "sk\nSYNC#empty\nSYNC#types\n",
        "the REMOVE deletes the item"
    );
    assert_eq!(query(dir.path(), "SELECT count(*) AS n FROM current_attributes WHERE sk = 'SYNC#1a2b3c4d'"), "n\n0\n");
}

/// The source folder of a dependency, from `cargo metadata` (offline, for this host's
/// platform: it reads the lock file and the registry cache the build used).
fn dependency_dir(name: &str) -> PathBuf {
    let rustc = std::process::Command::new("rustc").arg("-vV").output().expect("rustc -vV runs");
    let rustc = String::from_utf8(rustc.stdout).unwrap();
    let host = rustc.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc -vV names the host");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--offline", "--format-version", "1", "--filter-platform", host, "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not a dependency"))["manifest_path"]
        .as_str()
        .unwrap()
        .to_owned();
    Path::new(&manifest).parent().unwrap().to_path_buf()
}

fn names(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_fixture_has_the_shape_lambda_delivers() {
    // The field names Lambda uses, as `aws_lambda_events`' own DynamoDB examples have them.
    let examples = dependency_dir("aws_lambda_events").join("src/fixtures");
    let (mut record_fields, mut change_fields) = (BTreeSet::new(), BTreeSet::new());
    for example in [
        "example-dynamodb-event.json",
        "example-dynamodb-event-null-items.json",
        "example-dynamodb-event-record-with-optional-fields.json",
    ] {
        let text = std::fs::read_to_string(examples.join(example)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let records = v.get("Records").map(|r| r.as_array().unwrap().clone()).unwrap_or_else(|| vec![v.clone()]);
        for r in records {
            record_fields.extend(names(&r));
            change_fields.extend(names(&r["dynamodb"]));
        }
    }
    assert!(record_fields.contains("userIdentity") && change_fields.contains("OldImage"), "{record_fields:?}");
    let required = ["eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb", "eventSourceARN"];
    let required_change = ["ApproximateCreationDateTime", "Keys", "SequenceNumber", "SizeBytes", "StreamViewType"];

    let fixtures = fixture_names();
    assert_eq!(
        fixtures,
        [
            "edge_cases.json",
            "every_type.json",
            "insert.json",
            "keys_only.json",
            "modify.json",
            "new_image.json",
            "old_image.json",
            "remove.json",
            "ttl_delete.json"
        ]
    );
    let mut types = BTreeSet::new();
    for name in &fixtures {
        let text = std::fs::read_to_string(event_path(name)).unwrap();
        let event: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not a Lambda DynamoDB event: {e}"));
        assert!(!event.records.is_empty(), "{name}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (r, typed) in v["Records"].as_array().unwrap().iter().zip(&event.records) {
            let (fields, change) = (names(r), names(&r["dynamodb"]));
            assert!(fields.is_subset(&record_fields), "{name}: {:?}", fields.difference(&record_fields));
            assert!(change.is_subset(&change_fields), "{name}: {:?}", change.difference(&change_fields));
            assert!(required.iter().all(|f| fields.contains(*f)), "{name}: {fields:?}");
            assert!(required_change.iter().all(|f| change.contains(*f)), "{name}: {change:?}");
            // What each view type carries.
            let view = r["dynamodb"]["StreamViewType"].as_str().unwrap();
            let (new, old) = (change.contains("NewImage"), change.contains("OldImage"));
            let event_name = r["eventName"].as_str().unwrap();
            match view {
                "KEYS_ONLY" => assert!(!new && !old, "{name}"),
                "NEW_IMAGE" => assert!(!old && (new || event_name == "REMOVE"), "{name}"),
                "OLD_IMAGE" => assert!(!new && (old || event_name == "INSERT"), "{name}"),
                "NEW_AND_OLD_IMAGES" => {
                    assert_eq!(new, event_name != "REMOVE", "{name}");
                    assert_eq!(old, event_name != "INSERT", "{name}");
                }
                other => panic!("{name}: stream view type {other}"),
            }
            assert_eq!(typed.change.sequence_number.as_deref(), r["dynamodb"]["SequenceNumber"].as_str(), "{name}");
            for image in [&typed.change.new_image, &typed.change.old_image] {
                collect_types(&serde_json::to_value(image).unwrap(), &mut types);
            }
        }
    }
    let every = ["B", "BOOL", "BS", "L", "M", "N", "NS", "NULL", "S", "SS"];
    assert_eq!(types, every.iter().map(|t| t.to_string()).collect::<BTreeSet<_>>());
}

/// The DynamoDB type names found anywhere in an image (as serde_dynamo writes it back).
fn collect_types(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    if let Some(map) = v.as_object() {
        for (k, inner) in map {
            if ["B", "BOOL", "BS", "L", "M", "N", "NS", "NULL", "S", "SS"].contains(&k.as_str()) && map.len() == 1 {
                out.insert(k.clone());
            }
            collect_types(inner, out);
        }
    } else if let Some(list) = v.as_array() {
        list.iter().for_each(|e| collect_types(e, out));
    }
}

#[test]
fn every_fixture_is_used_by_another_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = String::new();
    let mut stack = vec![root.join("tests"), root.join("src"), root.join("normalizer")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            // Benchmarks are not tests: they build large batches of their own.
            let skip = ["target", "fixtures", "benches"].iter().any(|d| path.ends_with(d));
            if path.is_dir() && !skip {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("stream_events.rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    for name in fixture_names() {
        assert!(sources.contains(&format!("\"{name}\"")), "no test outside stream_events.rs loads {name}");
    }
    // And no test writes a Lambda event by hand: no JSON text with an `"eventName":` member,
    // but for these, which are not an input made up in place of a fixture.
    let known = [
        // split_event's deliberately broken record (not an event at all).
        r#"[{"eventName":"INSERT"}, 5, {"x":1}]"#,
        // stream_reader: the Lambda event its converter must write, the value under test.
        r#"r#"{"Records":[{"eventID":"e1","eventName":"REMOVE","eventVersion":"1.1","#,
    ];
    let by_hand: Vec<&str> =
        sources.lines().filter(|l| l.contains(r#""eventName":"#) && !known.iter().any(|k| l.contains(k))).collect();
    assert!(by_hand.is_empty(), "events written by hand (load a fixture instead): {by_hand:#?}");
}
