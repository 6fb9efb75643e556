//! Athena DDL for a table definition: `CREATE EXTERNAL TABLE` with the same columns, SerDe
//! properties, location and partition projection as the Glue `TableInput`.
//!
//! Called by `ddb-lake schema ddl`. Every identifier is validated by the spec and quoted
//! with backticks here all the same; every string literal is escaped, so no spec text can
//! end a literal or add a statement.

use crate::definition::TableDefinition;

/// Quotes an identifier for Athena DDL (backticks, doubled inside).
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Quotes a string literal for Hive/Athena DDL, where backslash is an escape character.
pub fn quote_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn properties<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    pairs.map(|(k, v)| format!("  {} = {}", quote_literal(k), quote_literal(v))).collect::<Vec<_>>().join(",\n")
}

/// The `CREATE EXTERNAL TABLE` statement for one table in `database`.
pub fn create_table(database: &str, def: &TableDefinition) -> String {
    let sd = &def.storage_descriptor;
    let col = |c: &crate::definition::ColumnDefinition| {
        let mut s = format!("  {} {}", quote_identifier(&c.name), c.kind);
        if let Some(comment) = &c.comment {
            s.push_str(&format!(" COMMENT {}", quote_literal(comment)));
        }
        s
    };
    let mut out = format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {}.{} (\n{}\n)\n",
        quote_identifier(database),
        quote_identifier(&def.name),
        sd.columns.iter().map(col).collect::<Vec<_>>().join(",\n")
    );
    if let Some(d) = &def.description {
        out.push_str(&format!("COMMENT {}\n", quote_literal(d)));
    }
    if !def.partition_keys.is_empty() {
        out.push_str(&format!(
            "PARTITIONED BY (\n{}\n)\n",
            def.partition_keys.iter().map(col).collect::<Vec<_>>().join(",\n")
        ));
    }
    out.push_str(&format!("ROW FORMAT SERDE {}\n", quote_literal(&sd.serde_info.serialization_library)));
    if !sd.serde_info.parameters.is_empty() {
        out.push_str(&format!("WITH SERDEPROPERTIES (\n{}\n)\n", properties(sd.serde_info.parameters.iter())));
    }
    out.push_str(&format!(
        "STORED AS INPUTFORMAT {}\nOUTPUTFORMAT {}\n",
        quote_literal(&sd.input_format),
        quote_literal(&sd.output_format)
    ));
    out.push_str(&format!("LOCATION {}\n", quote_literal(&sd.location)));
    // EXTERNAL is implied by CREATE EXTERNAL TABLE.
    out.push_str(&format!(
        "TBLPROPERTIES (\n{}\n);\n",
        properties(def.parameters.iter().filter(|(k, _)| k.as_str() != "EXTERNAL"))
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_cannot_be_escaped() {
        assert_eq!(quote_literal("a'b\\c\td"), "'a\\'b\\\\c\\td'");
        assert_eq!(quote_identifier("x`y"), "`x``y`");
        // A quote preceded by a backslash in the input stays inside the literal.
        let lit = quote_literal("\\'; DROP TABLE x; --");
        assert_eq!(lit, "'\\\\\\'; DROP TABLE x; --'");
    }
}
