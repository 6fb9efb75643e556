//! Applying the definitions to the Glue catalog: plan, then create or update, idempotently.
//!
//! Called by `ddb-lake schema plan` / `apply`. [`plan`] reads the database and every table
//! and compares them with the spec; [`apply`] creates the database if missing, creates
//! missing tables and updates changed ones in place. A change that would make existing
//! objects unreadable is refused unless forced. Running it twice changes nothing the second
//! time (no new table version).

use aws_sdk_glue::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_glue::types::DatabaseInput;
use aws_sdk_glue::Client;

use crate::definition::{compare, from_glue_table, to_table_input, CatalogDefinition, TableChange, TableDefinition};

/// A Glue call that failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The Glue API answered with an error (or could not be reached).
    #[error("Glue {operation} {target} failed: {message}")]
    Glue {
        /// The operation (`GetTable`, …).
        operation: &'static str,
        /// The database or table.
        target: String,
        /// The SDK's message, with its context.
        message: String,
    },
    /// The plan has breaking changes and `force` was not given.
    #[error("refusing breaking changes (existing objects would be read wrongly):\n{0}\nadd the new columns at the end instead, or pass --force to apply anyway")]
    Breaking(String),
}

fn glue_err<E: std::error::Error + 'static>(operation: &'static str, target: &str, e: E) -> CatalogError {
    CatalogError::Glue { operation, target: target.to_owned(), message: DisplayErrorContext(e).to_string() }
}

/// What applying would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The database.
    pub database: String,
    /// Whether the database must be created.
    pub create_database: bool,
    /// Per table: the definition and the change.
    pub tables: Vec<(TableDefinition, TableChange)>,
}

impl Plan {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        !self.create_database && self.tables.iter().all(|(_, c)| *c == TableChange::Unchanged)
    }

    /// The breaking changes, one line each.
    pub fn breaking(&self) -> Vec<String> {
        self.tables
            .iter()
            .flat_map(|(d, c)| match c {
                TableChange::Breaking { reasons, .. } => reasons.iter().map(|r| format!("  {}: {r}", d.name)).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// A readable account, one line per action.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return format!(
                "no changes: database `{}` and its {} tables match the spec\n",
                self.database,
                self.tables.len()
            );
        }
        let mut s = String::new();
        if self.create_database {
            s.push_str(&format!("+ create database {}\n", self.database));
        }
        for (d, c) in &self.tables {
            match c {
                TableChange::Create => s.push_str(&format!(
                    "+ create table {}.{} ({} columns)\n",
                    self.database,
                    d.name,
                    d.storage_descriptor.columns.len()
                )),
                TableChange::Unchanged => s.push_str(&format!("  unchanged {}.{}\n", self.database, d.name)),
                TableChange::Update(changes) => {
                    s.push_str(&format!("~ update table {}.{}\n", self.database, d.name));
                    for ch in changes {
                        s.push_str(&format!("    {ch}\n"));
                    }
                }
                TableChange::Breaking { reasons, changes } => {
                    s.push_str(&format!("! BREAKING update of table {}.{}\n", self.database, d.name));
                    for r in reasons {
                        s.push_str(&format!("    {r}\n"));
                    }
                    for ch in changes.iter().filter(|c| !reasons.contains(c)) {
                        s.push_str(&format!("    {ch}\n"));
                    }
                }
            }
        }
        s
    }
}

/// Reads the catalog and compares it with `catalog`.
pub async fn plan(client: &Client, catalog: &CatalogDefinition) -> Result<Plan, CatalogError> {
    let db = &catalog.database_name;
    let create_database = match client.get_database().name(db).send().await {
        Ok(_) => false,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_not_found_exception()) => true,
        Err(e) => return Err(glue_err("GetDatabase", db, e)),
    };
    let mut tables = Vec::new();
    for def in &catalog.tables {
        let change = if create_database {
            TableChange::Create
        } else {
            match client.get_table().database_name(db).name(&def.name).send().await {
                Ok(out) => match out.table() {
                    Some(t) => compare(&from_glue_table(t), def),
                    None => TableChange::Create,
                },
                Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_not_found_exception()) => {
                    TableChange::Create
                }
                Err(e) => return Err(glue_err("GetTable", &format!("{db}.{}", def.name), e)),
            }
        };
        tables.push((def.clone(), change));
    }
    Ok(Plan { database: db.clone(), create_database, tables })
}

/// Carries out a plan. Breaking changes need `force`.
pub async fn apply(client: &Client, plan: &Plan, force: bool) -> Result<(), CatalogError> {
    let breaking = plan.breaking();
    if !breaking.is_empty() && !force {
        return Err(CatalogError::Breaking(breaking.join("\n")));
    }
    let db = &plan.database;
    if plan.create_database {
        let input = DatabaseInput::builder()
            .name(db)
            .description("ddb-lake: DynamoDB stream data lake")
            .build()
            .map_err(|e| glue_err("CreateDatabase", db, e))?;
        if let Err(e) = client.create_database().database_input(input).send().await {
            // Someone else created it in the meantime: fine.
            if e.code() != Some("AlreadyExistsException") {
                return Err(glue_err("CreateDatabase", db, e));
            }
        }
    }
    for (def, change) in &plan.tables {
        let target = format!("{db}.{}", def.name);
        match change {
            TableChange::Unchanged => {}
            TableChange::Create => {
                client
                    .create_table()
                    .database_name(db)
                    .table_input(to_table_input(def))
                    .send()
                    .await
                    .map_err(|e| glue_err("CreateTable", &target, e))?;
            }
            TableChange::Update(_) | TableChange::Breaking { .. } => {
                client
                    .update_table()
                    .database_name(db)
                    .table_input(to_table_input(def))
                    .send()
                    .await
                    .map_err(|e| glue_err("UpdateTable", &target, e))?;
            }
        }
    }
    Ok(())
}
