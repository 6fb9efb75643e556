//! # glue-schema
//!
//! The lake spec as Glue tables and Athena DDL, and applying them to the Glue catalog.
//!
//! The columns come from [`ddb_lake_core::schema`], the very list the normalizer writes, so
//! the writer and the catalog cannot disagree. [`definition`] builds the table definitions
//! (SerDe, gzip text, `dt` partition, partition projection); [`ddl`] prints them as
//! `CREATE EXTERNAL TABLE`; [`catalog`] plans and applies them with `aws-sdk-glue`.
//!
//! ```
//! let spec = ddb_lake_core::spec::LakeSpec::default();
//! let tables = ddb_lake_glue_schema::definition::table_definitions(&spec);
//! assert_eq!(tables[0].name, "changes");
//! assert_eq!(tables[0].parameters["projection.dt.type"], "date");
//! let ddl = ddb_lake_glue_schema::ddl::create_table(&spec.database, &tables[0]);
//! assert!(ddl.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `ddb_lake`.`changes` ("));
//! ```
#![deny(missing_docs)]

pub mod catalog;
pub mod ddl;
pub mod definition;
