//! The Parquet tables of compaction (`<table>_compacted`, `<table>_state`) as DataFusion
//! tables: the folder's `.parquet` objects read with the schema their Glue definition gives
//! (so a column the objects lack reads as NULL, and a type that differs is cast), `dt` from
//! the `dt=` folders of the history. A folder that does not exist is an empty table.
//! Registered by the embedded engine ([`crate::local`]) beside the text tables.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::catalog::TableProvider;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use ddb_lake_glue_schema::definition::TableDefinition;

use crate::columns::table_schema;
use crate::error::LocalError;

/// Extension of the Parquet objects compaction writes.
pub const PARQUET_EXTENSION: &str = ".parquet";

/// The table `def` (a Parquet definition) over `root/<name>/`.
pub fn parquet_table(root: &Path, def: &TableDefinition) -> Result<Arc<dyn TableProvider>, LocalError> {
    let schema = table_schema(def);
    let folder = root.join(&def.name);
    if !folder.is_dir() {
        return Ok(Arc::new(EmptyTable::new(schema)));
    }
    let err = |source| LocalError::Sql { context: format!("registering table {}", def.name), source };
    let absolute = std::path::absolute(&folder).map_err(|source| LocalError::Io { path: folder.clone(), source })?;
    let url = url::Url::from_directory_path(&absolute).map_err(|()| LocalError::Io {
        path: folder.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a path a file:// URL can name"),
    })?;
    let table_url = ListingTableUrl::try_new(url, None).map_err(err)?;
    // The objects hold the columns; the partition keys (`dt` of the history) come from folders.
    let partitions: Vec<(String, DataType)> =
        def.partition_keys.iter().map(|c| (c.name.clone(), DataType::Utf8)).collect();
    let file_fields = schema.fields().iter().take(schema.fields().len() - partitions.len()).cloned();
    let file_schema = Arc::new(Schema::new(file_fields.collect::<Vec<_>>()));
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(PARQUET_EXTENSION)
        .with_table_partition_cols(partitions);
    let config = ListingTableConfig::new(table_url).with_listing_options(options).with_schema(file_schema);
    Ok(Arc::new(ListingTable::try_new(config).map_err(err)?))
}
