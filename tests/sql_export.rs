//! `ddb-lake sql export`: the JSON the CDK app publishes as Athena named queries, checked
//! against the SQL files read independently (header parsed here, parameters substituted
//! here), against `sql/manifest.toml`, against `ddb-lake sql show`, and against the spec's
//! declared tables. Runs the real binary; run by `cargo test` (./scripts/test).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod helpers;

use helpers::{ddb_lake as run, ddb_lake_ok as ok};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example_spec() -> PathBuf {
    root().join("docs/examples/sync-configurations.toml")
}

/// A SQL file read here, without the library's parser.
struct File {
    fields: BTreeMap<String, Vec<String>>,
    body: String,
}

impl File {
    fn read(path: &Path) -> File {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut lines = text.lines().peekable();
        while let Some((k, v)) = lines.peek().and_then(|l| l.strip_prefix("-- ")).and_then(|l| l.split_once(": ")) {
            fields.entry(k.to_string()).or_default().push(v.trim().to_string());
            lines.next();
        }
        let body = lines.collect::<Vec<_>>().join("\n").trim().trim_end_matches(';').trim().to_string();
        File { fields, body }
    }

    fn one(&self, key: &str) -> &str {
        &self.fields[key][0]
    }

    /// (name, type, default, help) of every `-- param:` line.
    fn params(&self) -> Vec<(String, String, String, String)> {
        self.fields
            .get("param")
            .into_iter()
            .flatten()
            .map(|p| {
                let mut parts = p.splitn(4, ' ');
                let mut next = || parts.next().unwrap_or("").to_string();
                (next(), next(), next(), next())
            })
            .collect()
    }

    /// The body with every parameter at its default, quoted by type.
    fn rendered(&self) -> String {
        let mut sql = self.body.clone();
        for (name, kind, default, _) in self.params() {
            let literal = match kind.as_str() {
                "int" => default,
                "date" | "text" => format!("'{}'", default.replace('\'', "''")),
                other => panic!("unknown parameter type {other}"),
            };
            sql = sql.replace(&format!("{{{{{name}}}}}"), &literal);
        }
        assert!(!sql.contains("{{"), "a parameter left in {sql}");
        sql
    }
}

/// name → version, from sql/manifest.toml.
fn manifest_versions() -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(root().join("sql/manifest.toml")).unwrap();
    let mut out = BTreeMap::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = ") {
            out.insert(name.take().expect("name before version"), v.trim().parse().unwrap());
        }
    }
    out
}

/// (database, declared table names) of a spec, read from its TOML lines.
fn spec_facts(path: &Path) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let value = |line: &str, key: &str| -> Option<String> {
        let rest = line.trim().strip_prefix(key)?.trim_start().strip_prefix('=')?;
        Some(rest.trim().trim_start_matches('"').split('"').next().unwrap().to_string())
    };
    let mut database = None;
    let mut tables = Vec::new();
    let mut section = "";
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = if trimmed == "[[tables]]" { "tables" } else { "" };
            if trimmed == "[lake]" {
                section = "lake";
            }
            continue;
        }
        match section {
            "lake" => database = database.or_else(|| value(line, "database")),
            "tables" => {
                if let Some(name) = value(line, "name") {
                    tables.push(name);
                    section = "";
                }
            }
            _ => {}
        }
    }
    (database.expect("the spec names a database"), tables)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn export_lists_every_view_and_question_as_athena_gets_it() {
    let spec = example_spec();
    let spec_arg = spec.to_str().unwrap();
    let text = ok(&["sql", "export", "--spec", spec_arg]);
    assert!(text.ends_with("}\n") && text.starts_with("{\n  \"database\": "), "pretty-printed, one trailing newline");
    assert_eq!(ok(&["sql", "export", "--spec", spec_arg]), text, "same input, same bytes");
    let json: Value = serde_json::from_str(&text).unwrap();
    let (database, declared) = spec_facts(&spec);
    assert_eq!(json["database"], database.as_str());
    assert_eq!(declared, ["sync_configs", "field_mappings"], "the example spec's declared tables");

    let queries = json["queries"].as_array().unwrap();
    for q in queries {
        let keys: BTreeSet<&str> = q.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["name", "kind", "version", "question", "reads", "params", "source", "sql", "metric"]),
            "{q}"
        );
    }
    let names: Vec<&str> = queries.iter().map(|q| q.get("name").and_then(Value::as_str).unwrap()).collect();
    let kinds: Vec<&str> = queries.iter().map(|q| q["kind"].as_str().unwrap()).collect();
    let views = kinds.iter().take_while(|k| **k == "view").count();
    assert!(kinds[views..].iter().all(|k| *k == "question"), "views first, then questions: {kinds:?}");

    // Views: history_ and live_ of every compacted table, the files' views, then
    // current_<table> for every declared table; each after what it reads.
    let compacted: Vec<String> =
        ["changes", "attributes"].into_iter().map(str::to_owned).chain(declared.iter().cloned()).collect();
    let both: Vec<String> = compacted.iter().flat_map(|t| [format!("history_{t}"), format!("live_{t}")]).collect();
    let mut expected_views: Vec<&str> = both.iter().map(String::as_str).collect();
    expected_views.extend([
        "unique_changes",
        "latest_snapshot",
        "item_versions",
        "current_items",
        "current_attributes",
    ]);
    let generated: Vec<String> = declared.iter().map(|t| format!("current_{t}")).collect();
    expected_views.extend(generated.iter().map(String::as_str));
    assert_eq!(names[..views], expected_views[..]);
    let mut created = BTreeSet::new();
    for q in queries {
        for r in strings(&q["reads"]) {
            if names[..views].contains(&r.as_str()) {
                assert!(created.contains(&r), "{} reads {r} before it is created", q["name"]);
            }
        }
        created.insert(q["name"].as_str().unwrap().to_string());
    }

    // Questions: every file under sql/questions, in the library's file order.
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join("sql/questions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".sql").to_string())
        .collect();
    let questions: Vec<&str> = names[views..].to_vec();
    assert_eq!(questions.iter().map(|q| q.to_string()).collect::<BTreeSet<_>>(), on_disk);
    let file_order: Vec<String> = ddb_lake_sql::files::all()
        .unwrap()
        .into_iter()
        .filter(|f| f.kind == ddb_lake_sql::files::Kind::Question)
        .map(|f| f.name)
        .collect();
    assert_eq!(questions, file_order);

    let versions = manifest_versions();
    for q in queries {
        let name = q["name"].as_str().unwrap();
        let sql = q["sql"].as_str().unwrap();
        if generated.iter().any(|g| g == name) {
            let table = name.strip_prefix("current_").unwrap();
            assert_eq!(q["source"], "generated from the lake spec");
            // Bumped with the generated text (2: joins the row current_items names, snapshot
            // rows too; 3: reads live_<table>, the latest compaction's state and the text;
            // 4: groups by item and element, the other columns by min, not a DISTINCT).
            assert_eq!(q["version"], 4);
            let live = format!("live_{table}");
            assert_eq!(strings(&q["reads"]), [live.as_str(), "current_items"]);
            assert_eq!(q["params"], Value::Array(vec![]));
            assert!(q["question"].as_str().unwrap().contains(table), "{q}");
            let head = format!("CREATE OR REPLACE VIEW {name} AS\nSELECT min(t.event_name) AS event_name, ");
            assert!(sql.starts_with(&head), "{sql}");
            assert!(sql.contains(&format!("\nFROM live_{table} t\nJOIN current_items c\n")), "{sql}");
            let keys = if table == "field_mappings" { "t.item_key, t.element_index" } else { "t.item_key" };
            assert!(sql.ends_with(&format!("\nGROUP BY {keys}")), "{sql}");
            continue;
        }
        if let Some((kind, table)) = name.split_once('_').filter(|(k, _)| ["history", "live"].contains(k)) {
            // history_<table>: its text and the compacted objects of the runs that count;
            // live_<table>: its text and the latest run's state.
            let (other, filter) = if kind == "history" {
                (format!("{table}_compacted"), "compaction_id IN (SELECT compaction_id FROM compactions)")
            } else {
                (format!("{table}_state"), "compaction_id = (SELECT max(compaction_id) FROM compactions)")
            };
            assert_eq!(q["source"], "generated from the lake spec");
            // 2: `changes` and `attributes` always have an `entity` (NULL without [[entities]]);
            // 3: that NULL is not a literal (the embedded engine's DISTINCT, views.rs).
            assert_eq!(q["version"], 3);
            let null_entity = sql.matches("nullif(event_name, event_name) AS entity").count();
            assert_eq!(null_entity, if ["changes", "attributes"].contains(&table) { 2 } else { 0 }, "{sql}");
            assert_eq!(strings(&q["reads"]), [table, other.as_str(), "compactions"]);
            assert!(sql.contains(&format!("\nFROM {table}\nUNION ALL\n")), "{sql}");
            assert!(sql.ends_with(&format!("\nFROM {other}\nWHERE {filter}")), "{sql}");
            continue;
        }
        let kind = q["kind"].as_str().unwrap();
        let dir = if kind == "view" { "views" } else { "questions" };
        let source = format!("sql/{dir}/{name}.sql");
        assert_eq!(q["source"], source.as_str());
        let file = File::read(&root().join(&source));
        assert_eq!(file.one("name"), name);
        assert_eq!(file.one("kind"), kind);
        assert_eq!(q["question"], file.one("question"));
        assert_eq!(q["version"].as_u64(), Some(versions[name]), "{name}: the manifest's version");
        assert_eq!(q["version"].as_u64(), Some(file.one("version").parse().unwrap()), "{name}");
        let reads: Vec<String> = file.one("reads").split(',').map(|r| r.trim().to_string()).collect();
        assert_eq!(strings(&q["reads"]), reads);
        let params: Vec<(String, String, String, String)> = q["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let s = |k: &str| p[k].as_str().unwrap().to_string();
                (s("name"), s("type"), s("default"), s("help"))
            })
            .collect();
        assert_eq!(params, file.params(), "{name}");
        if kind == "view" {
            assert_eq!(sql, format!("CREATE OR REPLACE VIEW {name} AS\n{}", file.body));
        } else {
            assert_eq!(sql, file.rendered(), "{name}: the body with the defaults");
            // `sql show NAME` prints the header (3 lines, then one per parameter) and `<sql>;`.
            let shown = ok(&["sql", "show", name]);
            let body: Vec<&str> = shown.lines().skip(3 + params.len()).collect();
            assert_eq!(format!("{sql};"), body.join("\n"), "{name}: what `sql show` prints");
        }
        // `-- metric: NAME value=COLUMN dimensions=COLUMN,… schedule=…`, read here.
        match file.fields.get("metric").map(|m| m[0].as_str()) {
            None => assert!(q["metric"].is_null(), "{name}"),
            Some(line) => {
                let m = &q["metric"];
                let (head, schedule) = line.split_once(" schedule=").unwrap_or((line, "rate(1 hour)"));
                let mut words = head.split_whitespace();
                assert_eq!(m["name"], words.next().unwrap(), "{name}");
                let mut want_dims: Vec<String> = Vec::new();
                for w in words {
                    match w.split_once('=').unwrap() {
                        ("value", v) => assert_eq!(m["value"], v),
                        ("dimensions", d) => want_dims = d.split(',').map(str::to_owned).collect(),
                        other => panic!("{name}: {other:?}"),
                    }
                }
                assert_eq!(strings(&m["dimensions"]), want_dims);
                assert_eq!(m["schedule"], schedule);
                // The question at its defaults, wrapped: the dimensions' columns, then the value's.
                let published = m["sql"].as_str().unwrap();
                let mut select: Vec<String> =
                    want_dims.iter().map(|d| format!("CAST({d} AS varchar) AS {d}")).collect();
                select.push(format!("CAST({v} AS double) AS {v}", v = m["value"].as_str().unwrap()));
                let head = format!("SELECT {}\nFROM (\n{sql}\n) q\nWHERE ", select.join(", "));
                assert!(published.starts_with(&head), "{name}: {published}");
            }
        }
    }
    let metrics: Vec<&str> =
        queries.iter().filter(|q| !q["metric"].is_null()).map(|q| q["name"].as_str().unwrap()).collect();
    assert_eq!(metrics, ["recorded_errors"], "the questions published as metrics");
    assert!(queries.iter().any(|q| !q["params"].as_array().unwrap().is_empty()), "some question has parameters");
}

#[test]
fn export_writes_the_same_json_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = example_spec();
    let out = dir.path().join("queries.json");
    let say = ok(&["sql", "export", "--spec", spec.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = ok(&["sql", "export", "--spec", spec.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let queries = json["queries"].as_array().unwrap();
    let views = queries.iter().filter(|q| q["kind"] == "view").count();
    assert_eq!(say, format!("wrote {views} views and {} questions to {}\n", queries.len() - views, out.display()));

    // Without a spec: the default database and only the files' views.
    let plain: Value = serde_json::from_str(&ok(&["sql", "export"])).unwrap();
    assert_eq!(plain["database"], ddb_lake_core::spec::DEFAULT_DATABASE);
    let plain_views: Vec<&str> = plain["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["kind"] == "view")
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        plain_views,
        [
            "history_changes",
            "live_changes",
            "history_attributes",
            "live_attributes",
            "unique_changes",
            "latest_snapshot",
            "item_versions",
            "current_items",
            "current_attributes"
        ]
    );

    // An unwritable destination is an error that names it.
    let bad = dir.path().join("no/such/dir/q.json");
    let failed = run(&["sql", "export", "--out", bad.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("no/such/dir/q.json"));
}

/// Each `(name, sql)` parsed by sqlglot's Athena dialect (tests/athena_sql/parse.py): one
/// `{"name", "error", "kind", "target"}` per statement.
fn parse_as_athena(statements: &[(String, String)]) -> Vec<Value> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let how =
        "the Athena SQL check needs Python 3 with sqlglot (python3 -m pip install sqlglot; ./scripts/test installs it)";
    let mut child = Command::new("python3")
        .arg(root().join("tests/athena_sql/parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {how}"));
    let input: Vec<Value> = statements.iter().map(|(n, s)| serde_json::json!({"name": n, "sql": s})).collect();
    child.stdin.take().unwrap().write_all(serde_json::to_string(&input).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{how}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A compaction statement with every `{{param}}` at the export's example value, quoted here.
fn with_examples(sql: &str, compaction: &Value) -> String {
    let mut out = sql.to_string();
    for p in compaction["params"].as_array().unwrap() {
        let literal = format!("'{}'", p["default"].as_str().unwrap().replace('\'', "''"));
        out = out.replace(&format!("{{{{{}}}}}", p["name"].as_str().unwrap()), &literal);
    }
    assert!(!out.contains("{{"), "a placeholder that is not a parameter in {sql}");
    out
}

#[test]
fn every_athena_statement_parses_as_athena_sql() {
    let spec = example_spec();
    let json: Value = serde_json::from_str(&ok(&["sql", "export", "--spec", spec.to_str().unwrap()])).unwrap();
    let compaction = &json["compaction"];
    let mut statements: Vec<(String, String)> = json["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["name"].as_str().unwrap().to_string(), q["sql"].as_str().unwrap().to_string()))
        .collect();
    for s in compaction["statements"].as_array().unwrap() {
        statements
            .push((s["name"].as_str().unwrap().to_string(), with_examples(s["sql"].as_str().unwrap(), compaction)));
    }
    // The check itself can fail: a broken statement is reported.
    statements.push(("broken".into(), "SELECT item_key, FROM changes WHERE (dt =".into()));
    let parsed = parse_as_athena(&statements);
    assert_eq!(parsed.len(), statements.len());
    let (broken, parsed) = parsed.split_last().unwrap();
    assert!(broken["error"].is_string(), "{broken}");

    let kinds: BTreeMap<&str, &str> = json["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["name"].as_str().unwrap(), if q["kind"] == "view" { "Create" } else { "Select" }))
        .collect();
    for (p, s) in parsed.iter().zip(&statements) {
        let name = p["name"].as_str().unwrap();
        assert!(p["error"].is_null(), "{name} does not parse as Athena SQL: {}\n{}", p["error"], s.1);
        let writes = compaction["statements"].as_array().unwrap().iter().find(|c| c["name"] == name);
        match writes {
            Some(c) if c["table"].is_string() => {
                assert_eq!(p["kind"], "Insert", "{name}");
                assert_eq!(p["target"], c["table"], "{name} writes its table");
            }
            Some(_) => assert_eq!(p["kind"], "Select", "{name}"),
            None => assert_eq!(p["kind"], kinds[name], "{name}"),
        }
    }
}

#[test]
fn compaction_statements_fold_every_compacted_table_a_batch_at_a_time() {
    let spec = example_spec();
    let spec_arg = spec.to_str().unwrap();
    let json: Value = serde_json::from_str(&ok(&["sql", "export", "--spec", spec_arg])).unwrap();
    let schema: Value = serde_json::from_str(&ok(&["schema", "export", "--spec", spec_arg])).unwrap();
    let partitions = |table: &str| -> Vec<String> {
        let t = schema["Tables"].as_array().unwrap().iter().find(|t| t["Name"] == table);
        let t = t.unwrap_or_else(|| panic!("{table} is not in `ddb-lake schema export`"));
        t["PartitionKeys"].as_array().unwrap().iter().map(|k| k["Name"].as_str().unwrap().to_string()).collect()
    };
    let compaction = &json["compaction"];
    assert!(compaction["batch_days"].as_u64().unwrap() <= 100, "Athena writes at most 100 partitions per INSERT INTO");
    let params: BTreeSet<&str> =
        compaction["params"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    let statements = compaction["statements"].as_array().unwrap();
    let of = |step: &str| -> Vec<&Value> { statements.iter().filter(|s| s["step"] == step).collect() };
    let steps: Vec<&str> = statements.iter().map(|s| s["step"].as_str().unwrap()).collect();
    let mut order = steps.clone();
    order.dedup();
    assert_eq!(order, ["plan", "batches", "history", "state", "row", "obsolete"]);

    // Every table the stream writes and that is compacted: changes, attributes, the declared ones.
    let compacted = ["changes", "attributes", "sync_configs", "field_mappings"];
    for (step, suffix) in [("history", "_compacted"), ("state", "_state")] {
        let tables: Vec<&str> = of(step).iter().map(|s| s["table"].as_str().unwrap()).collect();
        let want: Vec<String> = compacted.iter().map(|t| format!("{t}{suffix}")).collect();
        assert_eq!(tables, want, "{step}: changes first");
    }
    for s in of("history") {
        let (table, sql) = (s["table"].as_str().unwrap(), s["sql"].as_str().unwrap());
        assert_eq!(partitions(table), ["dt"], "{table}");
        assert!(sql.starts_with(&format!("INSERT INTO {table}\n")), "{sql}");
        // One batch's days, nothing else: at most batch_days partitions.
        assert_eq!(sql.matches("WHERE dt BETWEEN {{first_day}} AND {{last_day}}").count(), 1, "{sql}");
        assert_eq!(sql.matches("WHERE").count(), 1, "{sql}");
        assert!(sql.trim_end().ends_with("AND {{last_day}}"), "{sql}");
    }
    for s in of("state") {
        let table = s["table"].as_str().unwrap();
        assert!(partitions(table).is_empty(), "{table} is one partition");
    }
    for s in statements {
        for (i, _) in s["sql"].as_str().unwrap().match_indices("{{") {
            let rest = &s["sql"].as_str().unwrap()[i + 2..];
            let name = &rest[..rest.find("}}").unwrap()];
            assert!(params.contains(name), "{}: {{{{{name}}}}} is not a parameter", s["name"]);
        }
        if s["step"] == "history" || s["step"] == "state" {
            let sql = s["sql"].as_str().unwrap();
            assert_eq!(
                sql.split_once('\n').unwrap().1,
                s["select"].as_str().unwrap(),
                "Athena runs the engine's select"
            );
        }
    }
    // The row's key and header are those of the `compactions` table.
    assert_eq!(compaction["marker_key"], "compactions/dt={{through}}/compaction_{{compaction_id}}.tsv");
    let columns: Vec<&str> = schema["Tables"].as_array().unwrap().iter().find(|t| t["Name"] == "compactions").unwrap()
        ["StorageDescriptor"]["Columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(compaction["marker_header"].as_str().unwrap().split('\t').collect::<Vec<_>>(), columns);
}
