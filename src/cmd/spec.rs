//! `ddb-lake spec check`: validate a spec and explain it.

use std::path::Path;

use ddb_lake_core::spec::LakeSpec;

/// Validates `file` and prints what it describes.
pub fn check(file: &Path) -> anyhow::Result<()> {
    let spec = LakeSpec::from_file(file)?;
    out!("{}", spec.explain())?;
    Ok(())
}
