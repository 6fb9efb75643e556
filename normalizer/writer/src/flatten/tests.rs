//! Flattening tests: each table's rows for the event fixtures, redaction on every walk.

use super::*;
use crate::record::decode_record;
use ddb_lake_core::rowfmt::decode_object;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn rows_of(spec: &LakeSpec, rec: &str) -> Vec<(Vec<String>, Vec<ddb_lake_core::rowfmt::Row>)> {
    texts_of(spec, rec).iter().map(|t| decode_object(format!("h\n{t}").as_bytes()).unwrap()).collect()
}

/// The rows of each table for `rec` as text (no header line).
fn texts_of(spec: &LakeSpec, rec: &str) -> Vec<String> {
    let f = Flattener::new(spec, Some(b"0123456789abcdef"), "the test").unwrap();
    let mut out = RecordRows::for_tables(f.table_count());
    f.flatten(&decode_record(rec).unwrap(), &mut Scratch::default(), &mut out).unwrap();
    out.bufs.iter().map(|b| String::from_utf8(b.clone()).unwrap()).collect()
}

/// The common columns of the edge-case record's rows, with the tenant `tenant`.
fn prefix(tenant: &str) -> String {
    format!(
        "MODIFY\t101000000000000000000041\t2023-11-14 22:13:20.000\t{tenant}\t\
         {{\"pk\":\"CLIENT#42#x\",\"sk\":\"SYNC#1\"}}\tCLIENT#42#x\tSYNC#1"
    )
}

/// `attributes` rows of the edge-case record: (path, type, value, changed) after `p`.
fn attribute_rows(p: &str, leaves: &[(&str, &str, &str, &str)]) -> String {
    leaves.iter().map(|(path, t, v, changed)| format!("{p}\t{path}\t{t}\t{v}\t{changed}\n")).collect()
}

/// The edge-case record (tests/fixtures/events/edge_cases.json): a tenant inside the key,
/// a negative 38-digit number, secret-looking names in a list, a set that changed in part,
/// an empty map, a name with a space, an attribute the change removed.
fn rec() -> String {
    crate::test_events::record_text("edge_cases.json")
}

/// The edge-case record with `members` added to its new image.
fn rec_with(members: serde_json::Value) -> String {
    let mut r = crate::test_events::record("edge_cases.json");
    let image = r["dynamodb"]["NewImage"].as_object_mut().unwrap();
    image.extend(members.as_object().unwrap().clone());
    r.to_string()
}

#[test]
fn attributes_have_paths_types_values_and_changes() {
    let spec = LakeSpec {
        tenant: Some(TenantRule::KeyPrefix { prefix: "CLIENT#".into(), separator: "#".into() }),
        ..LakeSpec::default()
    };
    let texts = texts_of(&spec, &rec());
    let p = prefix("42");
    // The change: what the new image sets or changes and the old one's `gone`.
    assert_eq!(
        texts[CHANGES],
        format!(
            "{p}\td3d9446802a44259755d38e6d163e820\tNEW_AND_OLD_IMAGES\t10\tfalse\t\\N\t\
             e,fieldMappings,gone,n,odd key,schedule,tags\n"
        )
    );
    // Every leaf of the new image in its order, but the two `secret`s the default drop
    // takes; `changed` compares with the old image (a set element by membership).
    let leaves = [
        ("pk", "S", "CLIENT#42#x", "false"),
        ("sk", "S", "SYNC#1", "false"),
        ("n", "N", "-12345678901234567890123456789012345678", "true"),
        ("schedule.intervalMinutes", "N", "15", "true"),
        ("schedule.tz", "S", "UTC", "false"),
        ("fieldMappings[0].fieldId", "S", "summary", "true"),
        ("fieldMappings[1].fieldId", "S", "status", "true"),
        ("tags[0]", "SS", "a", "true"),
        ("tags[1]", "SS", "b", "false"),
        ("e", "M", "\\N", "true"),
        ("[\"odd key\"]", "NULL", "\\N", "true"),
    ];
    assert_eq!(texts[ATTRIBUTES], attribute_rows(&p, &leaves));
}

/// A MODIFY's leaves under top-level attributes that it left as they were are unchanged,
/// however deep; under one it changed, each leaf is compared with its old value, and the
/// default drop applies in both.
#[test]
fn leaves_of_an_attribute_the_modify_left_alone_are_unchanged_however_deep() {
    let kept = serde_json::json!({"M": {
        "rules": {"L": [{"M": {"to": {"S": "x"}, "apiToken": {"S": "t"}}}, {"SS": ["a", "b"]}]},
        "limits": {"M": {"max": {"N": "5"}, "none": {"NULL": true}}}
    }});
    let mut old_partly = kept.clone();
    old_partly["M"]["limits"]["M"]["max"] = serde_json::json!({"N": "4"});
    let mut r = crate::test_events::record("edge_cases.json");
    let images = r["dynamodb"].as_object_mut().unwrap();
    images["NewImage"]
        .as_object_mut()
        .unwrap()
        .extend([("kept".into(), kept.clone()), ("partly".into(), kept.clone())]);
    images["OldImage"].as_object_mut().unwrap().extend([("kept".into(), kept), ("partly".into(), old_partly)]);
    let texts = texts_of(&LakeSpec::default(), &r.to_string());
    let changed_of = |path: &str| {
        let row = texts[ATTRIBUTES].lines().find(|l| l.split('\t').nth(7) == Some(path));
        row.unwrap_or_else(|| panic!("no row for {path}")).rsplit('\t').next().unwrap().to_owned()
    };
    for path in ["rules[0].to", "rules[1][0]", "rules[1][1]", "limits.max", "limits.none"] {
        assert_eq!(changed_of(&format!("kept.{path}")), "false", "kept.{path}");
    }
    for path in ["rules[0].to", "rules[1][0]", "rules[1][1]", "limits.none"] {
        assert_eq!(changed_of(&format!("partly.{path}")), "false", "partly.{path}");
    }
    assert_eq!(changed_of("partly.limits.max"), "true");
    assert!(!texts[ATTRIBUTES].contains("apiToken"), "the default drop takes apiToken in both");
    let changes = texts[CHANGES].trim_end().rsplit('\t').next().unwrap().to_owned();
    assert!(changes.split(',').any(|n| n == "partly") && !changes.split(',').any(|n| n == "kept"), "{changes}");
}

#[test]
fn declared_exploded_table_with_redaction() {
    let text = r#"
[source]
table = "t"
[lake]
location = "s3://bucket-a/p"
[tenant]
attribute = "pk"
[redaction]
[[redaction.rule]]
path = "fieldMappings[].secret"
action = "hash"
[[redaction.rule]]
path = "schedule"
action = "drop"
[[tables]]
name = "field_mappings"
explode = "fieldMappings"
[[tables.columns]]
name = "field_id"
path = "fieldMappings[].fieldId"
type = "string"
[[tables.columns]]
name = "secret"
path = "fieldMappings[].secret"
type = "string"
[[tables.columns]]
name = "big"
path = "n"
type = "decimal(38,0)"
"#;
    let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
    let texts = texts_of(&spec, &rec());
    let p = prefix("CLIENT#42#x");
    // One row per field mapping: its position, its field, its secret hashed, the item's n.
    let n = "-12345678901234567890123456789012345678";
    assert_eq!(
        texts[2],
        format!("{p}\t0\tsummary\t{}\t{n}\n{p}\t1\tstatus\t{}\t{n}\n", hmac_hex("s1"), hmac_hex("s2"))
    );
    // `attributes` hashes the same way and has nothing of the dropped schedule, not even
    // its name among the changed attributes.
    let leaves = [
        ("pk", "S", "CLIENT#42#x", "false"),
        ("sk", "S", "SYNC#1", "false"),
        ("n", "N", n, "true"),
        ("fieldMappings[0].fieldId", "S", "summary", "true"),
        ("fieldMappings[0].secret", "S", &hmac_hex("s1"), "true"),
        ("fieldMappings[1].fieldId", "S", "status", "true"),
        ("fieldMappings[1].secret", "S", &hmac_hex("s2"), "true"),
        ("tags[0]", "SS", "a", "true"),
        ("tags[1]", "SS", "b", "false"),
        ("e", "M", "\\N", "true"),
        ("[\"odd key\"]", "NULL", "\\N", "true"),
    ];
    assert_eq!(texts[ATTRIBUTES], attribute_rows(&p, &leaves));
    assert!(texts[CHANGES].ends_with("\te,fieldMappings,gone,n,odd key,tags\n"), "{}", texts[CHANGES]);
}

/// The edge-case record with a few personal values: an e-mail at the top and in a map,
/// card numbers in a list.
fn rec_with_personal_data() -> String {
    rec_with(serde_json::json!({
        "email": {"S": "ann@example.com"},
        "profile": {"M": {"email": {"S": "ann@example.com"}, "name": {"S": "Ann"}}},
        "cards": {"L": [{"M": {"number": {"S": "4111-1111"}}}, {"M": {"number": {"S": "5500-0000"}}}]}
    }))
}

fn spec_with(rest: &str) -> Result<LakeSpec, ddb_lake_core::spec::SpecError> {
    LakeSpec::from_toml(&format!("[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n{rest}"), "t.toml")
}

fn hmac_hex(text: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").unwrap();
    m.update(text.as_bytes());
    m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn all_text(tables: &[(Vec<String>, Vec<ddb_lake_core::rowfmt::Row>)]) -> String {
    tables.iter().flat_map(|(_, rows)| rows.iter().flatten().flatten().cloned()).collect::<Vec<_>>().join("\n")
}

/// Hole 1: the tenant column carried a dropped attribute.
#[test]
fn a_dropped_tenant_attribute_is_refused_and_a_hashed_one_is_written_hashed() {
    let e = spec_with("[tenant]\nattribute = \"email\"\n[[redaction.rule]]\npath = \"email\"\naction = \"drop\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("tenant.attribute `email` is dropped by redaction rule `email`"), "{e}");
    let spec = spec_with("[tenant]\nattribute = \"email\"\n[[redaction.rule]]\npath = \"email\"\naction = \"hash\"\n")
        .unwrap();
    let tables = rows_of(&spec, &rec_with_personal_data());
    let hashed = hmac_hex("ann@example.com");
    for (_, rows) in &tables {
        assert!(rows.iter().all(|r| r[3].as_deref() == Some(hashed.as_str())), "tenant is the hash in every table");
    }
    // The map member of the same name is another path: the rule does not reach it.
    assert!(all_text(&tables).contains("ann@example.com"));
    assert!(tables[ATTRIBUTES]
        .1
        .iter()
        .all(|r| r[7].as_deref() != Some("email") || r[9].as_deref() == Some(hashed.as_str())));
}

/// Hole 2: a column on a parent of redacted paths wrote the whole JSON.
#[test]
fn a_column_on_a_parent_is_written_without_its_redacted_values() {
    let spec = spec_with(
        "[[redaction.rule]]\npath = \"profile.email\"\naction = \"drop\"\n\
         [[redaction.rule]]\npath = \"fieldMappings[].secret\"\naction = \"hash\"\n\
         [[tables]]\nname = \"x\"\n\
         [[tables.columns]]\nname = \"profile\"\npath = \"profile\"\ntype = \"string\"\n\
         [[tables.columns]]\nname = \"mappings\"\npath = \"fieldMappings\"\ntype = \"string\"\n\
         [[tables]]\nname = \"fm\"\nexplode = \"fieldMappings\"\n\
         [[tables.columns]]\nname = \"element\"\npath = \"fieldMappings[]\"\ntype = \"string\"\n",
    )
    .unwrap();
    let tables = rows_of(&spec, &rec_with_personal_data());
    let (h1, h2) = (hmac_hex("s1"), hmac_hex("s2"));
    let x = &tables[2].1[0];
    assert_eq!(x[7].as_deref(), Some(r#"{"name":"Ann"}"#));
    let mappings = format!(r#"[{{"fieldId":"summary","secret":"{h1}"}},{{"fieldId":"status","secret":"{h2}"}}]"#);
    assert_eq!(x[8].as_deref(), Some(mappings.as_str()));
    let fm = &tables[3].1;
    assert_eq!(fm[0][8].as_deref(), Some(format!(r#"{{"fieldId":"summary","secret":"{h1}"}}"#).as_str()));
    assert_eq!(fm[1][8].as_deref(), Some(format!(r#"{{"fieldId":"status","secret":"{h2}"}}"#).as_str()));
    let text = all_text(&tables);
    assert!(!text.contains("ann@example.com\"}") && !text.contains(r#""s1""#) && !text.contains(r#""s2""#), "{text}");
}

/// Hole 3: `[i]` and `[]` did not reach each other.
#[test]
fn position_and_each_rules_reach_each_other() {
    let e = spec_with(
        "[[redaction.rule]]\npath = \"cards[0].number\"\naction = \"drop\"\n\
         [[tables]]\nname = \"cards\"\nexplode = \"cards\"\n\
         [[tables.columns]]\nname = \"number\"\npath = \"cards[].number\"\ntype = \"string\"\n",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(
            "column `number` of table `cards` reads `cards[].number`, which redaction rule `cards[0].number` drops"
        ),
        "{e}"
    );

    let spec = spec_with(
        "[[redaction.rule]]\npath = \"cards[].number\"\naction = \"hash\"\n\
         [[tables]]\nname = \"first\"\n\
         [[tables.columns]]\nname = \"number\"\npath = \"cards[0].number\"\ntype = \"string\"\n",
    )
    .unwrap();
    let tables = rows_of(&spec, &rec_with_personal_data());
    assert_eq!(tables[2].1[0][7].as_deref(), Some(hmac_hex("4111-1111").as_str()));

    let spec = spec_with(
        "[[redaction.rule]]\npath = \"cards[0].number\"\naction = \"hash\"\n\
         [[tables]]\nname = \"cards\"\nexplode = \"cards\"\n\
         [[tables.columns]]\nname = \"number\"\npath = \"cards[].number\"\ntype = \"string\"\n",
    )
    .unwrap();
    let tables = rows_of(&spec, &rec_with_personal_data());
    let numbers: Vec<Option<&str>> = tables[2].1.iter().map(|r| r[8].as_deref()).collect();
    // Only the first card is covered, as in the attributes table.
    assert_eq!(numbers, [Some(hmac_hex("4111-1111").as_str()), Some("5500-0000")]);
    let attr =
        |p: &str| tables[ATTRIBUTES].1.iter().find(|r| r[7].as_deref() == Some(p)).map(|r| r[9].clone().unwrap());
    assert_eq!(attr("cards[0].number"), Some(hmac_hex("4111-1111")));
    assert_eq!(attr("cards[1].number").as_deref(), Some("5500-0000"));
}

/// Hole 5: without a rule, every attribute reached the lake, secrets included.
#[test]
fn names_that_look_like_secrets_are_dropped_unless_the_spec_says_otherwise() {
    let rec = rec_with(serde_json::json!({
        "credentials": {"M": {"apiToken": {"S": "t0k-1"}, "user": {"S": "bob"}}},
        "sharedSecret": {"S": "sh-2"},
        "profile": {"M": {"Password": {"S": "pw-3"}}}
    }));
    let paths = |spec: &LakeSpec| -> Vec<String> {
        let tables = rows_of(spec, &rec);
        tables[ATTRIBUTES].1.iter().map(|r| r[7].clone().unwrap()).collect()
    };
    let secret_paths = ["credentials.apiToken", "credentials.user", "sharedSecret", "profile.Password"];
    let found = paths(&LakeSpec::default());
    assert!(secret_paths.iter().all(|p| !found.contains(&p.to_string())), "{found:?}");
    assert!(found.contains(&"schedule.tz".to_string()));
    assert!(LakeSpec::default().explain().contains("default drop     attributes whose name contains password"));

    let off = spec_with("[redaction]\ndefault_drop = false\n").unwrap();
    assert!(secret_paths.iter().all(|p| paths(&off).contains(&p.to_string())));
    assert!(off.explain().contains("default drop     off"));
    let keep = spec_with("[redaction]\nkeep = [\"sharedSecret\"]\n").unwrap();
    let found = paths(&keep);
    assert!(found.contains(&"sharedSecret".to_string()) && !found.contains(&"profile.Password".to_string()));
    // A rule on a secret-looking path decides there instead of the default.
    let hashed = spec_with("[[redaction.rule]]\npath = \"credentials.apiToken\"\naction = \"hash\"\n").unwrap();
    let tables = rows_of(&hashed, &rec);
    let token = tables[ATTRIBUTES].1.iter().find(|r| r[7].as_deref() == Some("credentials.apiToken")).unwrap();
    assert_eq!(token[9].as_deref(), Some(hmac_hex("t0k-1").as_str()));

    // A column or the tenant on a default-dropped attribute is refused, saying how to keep it.
    let e = spec_with(
        "[[tables]]\nname = \"x\"\n[[tables.columns]]\nname = \"s\"\npath = \"sharedSecret\"\ntype = \"string\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("`sharedSecret` looks like a secret (its name contains `secret`)"), "{e}");
    assert!(e.to_string().contains("keep = [\"sharedSecret\"]"), "{e}");
    let e = spec_with("[tenant]\nattribute = \"apiKey\"\n").unwrap_err();
    assert!(e.to_string().contains("tenant.attribute `apiKey` looks like a secret"), "{e}");

    // Nor does a dropped attribute's name show among the change's attribute names; one
    // with a secret under it (profile) is written, so it shows.
    let changed = |spec: &LakeSpec| rows_of(spec, &rec)[CHANGES].1[0].last().cloned().flatten().unwrap();
    let touched = ["e", "fieldMappings", "gone", "n", "odd key", "profile", "schedule", "tags"];
    assert_eq!(changed(&LakeSpec::default()), touched.join(","));
    let mut all = [touched.as_slice(), &["credentials", "sharedSecret"]].concat();
    all.sort_unstable();
    assert_eq!(changed(&off), all.join(","));
    let rule = spec_with("[[redaction.rule]]\npath = \"schedule\"\naction = \"drop\"\n").unwrap();
    let without: Vec<&str> = touched.iter().copied().filter(|n| *n != "schedule").collect();
    assert_eq!(changed(&rule), without.join(","));
}

#[test]
fn type_conflicts_are_null_cells_and_rejects() {
    let text = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n[[tables]]\nname = \"x\"\n[[tables.columns]]\nname = \"tz\"\npath = \"schedule.tz\"\ntype = \"bigint\"\n";
    let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
    let texts = texts_of(&spec, &rec());
    // The cell is NULL, the row is there, and `_rejects` says where and why (without the
    // value). No `[tenant]`: the tenant is NULL.
    let p = prefix("\\N");
    assert_eq!(texts[2], format!("{p}\t\\N\n"));
    assert_eq!(
        texts[3],
        format!(
            "{p}\tx\ttz\tschedule.tz\t\\N\ttable `x` column `tz`: value at `schedule.tz` is S, which cannot be \
             converted for type bigint\n"
        )
    );
}

#[test]
fn hash_rule_without_key_is_refused() {
    let text = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n[redaction]\nkey_env = \"MY_KEY\"\n[[redaction.rule]]\npath = \"a\"\naction = \"hash\"\n";
    let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
    let e = Flattener::new(&spec, None, "the environment variable MY_KEY").err().unwrap();
    assert!(e.to_string().contains("no key was given: set the environment variable MY_KEY"), "{e}");
    let e = Flattener::new(&spec, Some(b"short"), "the environment variable MY_KEY").err().unwrap();
    assert_eq!(
        e.to_string(),
        "the redaction key in the environment variable MY_KEY is 5 bytes long; it must be at least 16 bytes (e.g. openssl rand -hex 32)"
    );
}

/// A single-table design: sync configurations, user profiles and audit entries share one
/// table and attribute names (a user has its own `fieldMappings` and `clientKey`).
const SINGLE_TABLE: &str = r#"
[source]
table = "app"
[lake]
location = "s3://bucket-a/app"
[[tables]]
name = "sync_configs"
[tables.when]
sk_prefix = "SYNC#"
[[tables.columns]]
name = "client_key"
path = "clientKey"
type = "string"
[[tables]]
name = "field_mappings"
explode = "fieldMappings"
[tables.when]
sk_prefix = "SYNC#"
[[tables.columns]]
name = "field_id"
path = "fieldMappings[].fieldId"
type = "string"
[[tables]]
name = "audit"
[tables.when]
attribute = "entityType"
equals = "Audit"
[[tables.columns]]
name = "action"
path = "action"
type = "string"
[[tables]]
name = "clients"
[tables.when]
pk_prefix = "CLIENT#"
[[tables.columns]]
name = "client_key"
path = "clientKey"
type = "string"
"#;

fn entity_record(event: &str, sk: &str, image: serde_json::Value) -> String {
    let fixture = match event {
        "REMOVE" => "remove.json",
        "MODIFY" => "modify.json",
        _ => "insert.json",
    };
    let mut r = crate::test_events::record(fixture);
    let key = serde_json::json!({"pk": {"S": "CLIENT#7"}, "sk": {"S": sk}});
    let mut image = image;
    image["pk"] = key["pk"].clone();
    image["sk"] = key["sk"].clone();
    let dynamodb = r["dynamodb"].as_object_mut().unwrap();
    dynamodb.insert("Keys".into(), key);
    dynamodb.remove("NewImage");
    dynamodb.remove("OldImage");
    dynamodb.insert(if event == "REMOVE" { "OldImage" } else { "NewImage" }.into(), image);
    r.to_string()
}

#[test]
fn a_declared_table_takes_only_its_entity() {
    let spec = LakeSpec::from_toml(SINGLE_TABLE, "single.toml").unwrap();
    let base = BuiltInTable::ITEM_TABLES.len();
    let rows = |rec: &str| -> Vec<usize> { rows_of(&spec, rec).iter().map(|(_, r)| r.len()).collect() };
    let mappings =
        serde_json::json!({"L": [{"M": {"fieldId": {"S": "summary"}}}, {"M": {"fieldId": {"S": "status"}}}]});
    let sync =
        entity_record("INSERT", "SYNC#1", serde_json::json!({"clientKey": {"S": "k1"}, "fieldMappings": mappings}));
    let user = entity_record(
        "INSERT",
        "USER#ann",
        serde_json::json!({"clientKey": {"S": "k1"}, "fieldMappings": mappings, "entityType": {"S": "User"}}),
    );
    let audit =
        entity_record("MODIFY", "AUDIT#9", serde_json::json!({"entityType": {"S": "Audit"}, "action": {"S": "login"}}));
    // [changes, attributes, sync_configs, field_mappings, audit, clients, _rejects]
    let got = rows(&sync);
    assert_eq!(got[base..base + 4], [1, 2, 0, 1], "a sync configuration: its tables and the pk_prefix one");
    // Leaves: pk, sk, clientKey and the two fieldIds.
    assert_eq!(got[..2], [1, 5], "changes and attributes take every item");
    let got = rows(&user);
    assert_eq!(got[base..base + 4], [0, 0, 0, 1], "a user's own fieldMappings and clientKey reach no sync table");
    let got = rows(&audit);
    assert_eq!(got[base..base + 4], [0, 0, 1, 1]);
    let (_, audit_rows) = &rows_of(&spec, &audit)[base + 2];
    assert_eq!(audit_rows[0].last().cloned().flatten().as_deref(), Some("login"));
    // A REMOVE writes its changes row only, whatever entity it removes.
    let removed = rows(&entity_record("REMOVE", "SYNC#1", serde_json::json!({"clientKey": {"S": "k1"}})));
    assert_eq!(removed[0], 1);
    assert!(removed[1..].iter().all(|n| *n == 0), "{removed:?}");
    // A number where the rule expects a string key matches nothing.
    let mut odd: serde_json::Value = serde_json::from_str(&sync).unwrap();
    odd["dynamodb"]["Keys"]["sk"] = serde_json::json!({"N": "1"});
    odd["dynamodb"]["NewImage"]["sk"] = serde_json::json!({"N": "1"});
    assert_eq!(rows(&odd.to_string())[base..base + 2], [0, 0]);
}

/// The single-table design with its entity types declared, each by `rule` with its value.
fn single_table_with_entities(rule: impl Fn(&str) -> String) -> LakeSpec {
    let mut text = SINGLE_TABLE.to_owned();
    for (name, value) in [("sync_config", "SYNC"), ("user", "USER"), ("audit", "AUDIT")] {
        text.push_str(&format!("[[entities]]\nname = \"{name}\"\n[entities.when]\n{}\n", rule(value)));
    }
    LakeSpec::from_toml(&text, "single.toml").unwrap()
}

/// The `entity` cell (the last) of every row of `changes` and of `attributes`.
fn entity_cells(spec: &LakeSpec, rec: &str) -> (Vec<Option<String>>, Vec<Option<String>>) {
    let tables = rows_of(spec, rec);
    let last = |t: usize| -> Vec<Option<String>> {
        let (_, rows) = &tables[t];
        rows.iter().map(|r| r.last().cloned().flatten()).collect()
    };
    (last(CHANGES), last(ATTRIBUTES))
}

#[test]
fn changes_and_attributes_name_the_entity_of_every_item() {
    let spec = single_table_with_entities(|v| format!("sk_prefix = \"{v}#\""));
    let image = serde_json::json!({"clientKey": {"S": "k1"}, "entityType": {"S": "User"}});
    let user = entity_record("INSERT", "USER#ann", image.clone());
    let (changes, attributes) = entity_cells(&spec, &user);
    assert_eq!(changes, [Some("user".to_owned())]);
    // Leaves: pk, sk, clientKey, entityType: every one names the entity.
    assert_eq!(attributes, vec![Some("user".to_owned()); 4]);
    // A REMOVE follows the entity of the item it removes (its keys here).
    let (changes, attributes) = entity_cells(&spec, &entity_record("REMOVE", "AUDIT#9", image.clone()));
    assert_eq!((changes, attributes.len()), (vec![Some("audit".to_owned())], 0));
    // An item no entity takes: NULL.
    let (changes, attributes) = entity_cells(&spec, &entity_record("MODIFY", "TEAM#1", image.clone()));
    assert_eq!(changes, [None]);
    assert!(attributes.iter().all(Option::is_none) && attributes.len() == 4);

    // By attribute: a REMOVE reads its old image; without one (KEYS_ONLY) nothing says.
    let spec = single_table_with_entities(|v| format!("attribute = \"entityType\"\nequals = \"{v}\""));
    let audit = serde_json::json!({"entityType": {"S": "AUDIT"}, "action": {"S": "login"}});
    let removed = entity_record("REMOVE", "LOG#1", audit.clone());
    assert_eq!(entity_cells(&spec, &removed).0, [Some("audit".to_owned())]);
    let mut keys_only: serde_json::Value = serde_json::from_str(&removed).unwrap();
    keys_only["dynamodb"].as_object_mut().unwrap().remove("OldImage");
    keys_only["dynamodb"]["StreamViewType"] = "KEYS_ONLY".into();
    assert_eq!(entity_cells(&spec, &keys_only.to_string()).0, [None]);
    // A MODIFY that turned the item into another type: the new image decides.
    let mut turned: serde_json::Value = serde_json::from_str(&entity_record("MODIFY", "LOG#1", audit)).unwrap();
    turned["dynamodb"]["OldImage"] = turned["dynamodb"]["NewImage"].clone();
    turned["dynamodb"]["NewImage"]["entityType"] = serde_json::json!({"S": "Note"});
    assert_eq!(entity_cells(&spec, &turned.to_string()).0, [None]);

    // The declared tables are as without entities, and without the list no row has the column.
    let plain = LakeSpec::from_toml(SINGLE_TABLE, "single.toml").unwrap();
    let with = texts_of(&spec, &user);
    let without = texts_of(&plain, &user);
    assert_eq!(with[BuiltInTable::ITEM_TABLES.len()..], without[BuiltInTable::ITEM_TABLES.len()..]);
    for (w, p) in with.iter().zip(&without).take(2) {
        let stripped: Vec<&str> = w.lines().map(|l| l.rsplit_once('\t').unwrap().0).collect();
        assert_eq!(stripped, p.lines().collect::<Vec<_>>());
    }
}
