//! The function's settings: every variable it reads, read once at cold start by `main`
//! ([`FunctionConfig::from_env`]), then passed on as values. Nothing else in the function
//! reads the environment. The redaction key is not among them: the function reads it from
//! the Secrets Manager secret [`FunctionConfig::redaction_key_secret`] names (see `main`),
//! so it is never in the function's configuration. The table of variables is in
//! `normalizer/function/README.md`, "Environment variables".

use std::path::PathBuf;
use std::time::Duration;

use ddb_lake_core::spec::{LakeSpec, SpecError};
use ddb_lake_writer::delivery::DEFAULT_MAX_CONCURRENT_UPLOADS;
use ddb_lake_writer::s3::{Encryption, S3Timeouts};

/// The variable that names the Secrets Manager secret holding the redaction key.
pub const REDACTION_KEY_SECRET_VAR: &str = "DDB_LAKE_REDACTION_KEY_SECRET";

/// Default CloudWatch namespace of the EMF metrics.
pub const DEFAULT_METRICS_NAMESPACE: &str = "DdbLake";

/// The `FunctionName` metric dimension when `AWS_LAMBDA_FUNCTION_NAME` is not set (a run
/// outside Lambda).
pub const DEFAULT_FUNCTION_NAME: &str = "ddb-lake-normalizer";

/// Where the spec comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    /// A file (`DDB_LAKE_SPEC_PATH`).
    Path(PathBuf),
    /// TOML text (`DDB_LAKE_SPEC`).
    Inline(String),
    /// No spec: `changes` and `attributes` only (then `DDB_LAKE_BUCKET` is required).
    Default,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The spec hashes values but no secret holds the key.
    #[error(
        "the spec hashes values (a redaction rule has action = \"hash\"), so the function needs the HMAC key: \
         set {REDACTION_KEY_SECRET_VAR} to the name or ARN of the Secrets Manager secret that holds it \
         (the CDK app does this from -c redactionKeySecret=…)"
    )]
    NoRedactionKeySecret,
    /// A variable has a value it cannot take.
    #[error("{name}={value:?} is not valid: {fix}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        fix: &'static str,
    },
    /// Both ways of giving the spec were used.
    #[error("set DDB_LAKE_SPEC_PATH or DDB_LAKE_SPEC, not both")]
    TwoSpecs,
    /// Without a spec there is no lake location.
    #[error("no lake location: set DDB_LAKE_BUCKET (and DDB_LAKE_PREFIX), or give a spec with [lake] location")]
    NoBucket,
    /// The spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// The function's settings, read once at cold start (see the README's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// The lake spec.
    pub spec: SpecSource,
    /// Bucket, overriding the spec's location.
    pub bucket: Option<String>,
    /// Key prefix, overriding the spec's location.
    pub prefix: Option<String>,
    /// Prefix for quarantined records (default `<prefix>/_quarantine`).
    pub quarantine_prefix: Option<String>,
    /// Server-side encryption header on every object.
    pub encryption: Encryption,
    /// Uploads in flight per batch.
    pub max_concurrent_uploads: usize,
    /// Path-style S3 addressing (for local endpoints).
    pub force_path_style: bool,
    /// CloudWatch namespace of the EMF metrics.
    pub metrics_namespace: String,
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`, set by Lambda): the metrics'
    /// `FunctionName` dimension.
    pub function_name: String,
    /// Name or ARN of the Secrets Manager secret holding the redaction key
    /// ([`REDACTION_KEY_SECRET_VAR`]); read at cold start when the spec hashes.
    pub redaction_key_secret: Option<String>,
    /// Time bounds on every S3 call.
    pub s3_timeouts: S3Timeouts,
    /// Time kept back from the invocation's deadline to answer Lambda
    /// (`DDB_LAKE_DEADLINE_MARGIN_MS`; see [`FunctionConfig::write_time`]).
    pub deadline_margin: Duration,
    /// The only exports the backfill steps read (`DDB_LAKE_EXPORT_LOCATION`,
    /// `s3://BUCKET/PREFIX`): bucket and prefix (without `/` at either end; may be empty).
    /// `None`: any export the role can read.
    pub export_location: Option<(String, String)>,
    /// The key value of the canary's heartbeat item (`DDB_LAKE_CANARY_KEY`): records of that
    /// item are counted in the `CanaryRecords` metric once their rows are written.
    pub canary_key: Option<String>,
}

/// Default of `DDB_LAKE_DEADLINE_MARGIN_MS`.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_secs(5);

impl FunctionConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `get` ([`FunctionConfig::from_env`] passes the environment;
    /// the tests pass a map).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let spec =
            match (get("DDB_LAKE_SPEC_PATH").filter(|s| !s.is_empty()), get("DDB_LAKE_SPEC").filter(|s| !s.is_empty()))
            {
                (Some(_), Some(_)) => return Err(ConfigError::TwoSpecs),
                (Some(p), None) => SpecSource::Path(p.into()),
                (None, Some(t)) => SpecSource::Inline(t),
                (None, None) => SpecSource::Default,
            };
        let sse = get("DDB_LAKE_SSE").unwrap_or_default();
        let encryption = Encryption::parse(&sse).ok_or(ConfigError::Invalid {
            name: "DDB_LAKE_SSE",
            value: sse.clone(),
            fix: "use AES256, aws:kms, aws:kms:<key id or ARN>, or leave it empty for the bucket default",
        })?;
        let max_concurrent_uploads = match get("DDB_LAKE_MAX_CONCURRENT_UPLOADS") {
            None => DEFAULT_MAX_CONCURRENT_UPLOADS,
            Some(v) => v.parse().ok().filter(|n| (1..=64).contains(n)).ok_or(ConfigError::Invalid {
                name: "DDB_LAKE_MAX_CONCURRENT_UPLOADS",
                value: v,
                fix: "a whole number from 1 to 64",
            })?,
        };
        let force_path_style = match get("DDB_LAKE_S3_FORCE_PATH_STYLE").as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "DDB_LAKE_S3_FORCE_PATH_STYLE",
                    value: v.into(),
                    fix: "true or false",
                })
            }
        };
        let millis = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            match get(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => {
                    v.trim().parse().ok().filter(|n| (1..=900_000).contains(n)).map(Duration::from_millis).ok_or(
                        ConfigError::Invalid { name, value: v, fix: "a whole number of milliseconds from 1 to 900000" },
                    )
                }
            }
        };
        let defaults = S3Timeouts::default();
        let s3_timeouts = S3Timeouts {
            connect: millis("DDB_LAKE_S3_CONNECT_TIMEOUT_MS", defaults.connect)?,
            read: millis("DDB_LAKE_S3_READ_TIMEOUT_MS", defaults.read)?,
            attempt: millis("DDB_LAKE_S3_ATTEMPT_TIMEOUT_MS", defaults.attempt)?,
        };
        let deadline_margin = millis("DDB_LAKE_DEADLINE_MARGIN_MS", DEFAULT_DEADLINE_MARGIN)?;
        let export_location = match get("DDB_LAKE_EXPORT_LOCATION").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => {
                let parsed = v.strip_prefix("s3://").map(|rest| match rest.split_once('/') {
                    Some((bucket, prefix)) => (bucket.to_owned(), prefix.trim_matches('/').to_owned()),
                    None => (rest.to_owned(), String::new()),
                });
                match parsed.filter(|(bucket, _)| !bucket.is_empty()) {
                    Some(location) => Some(location),
                    None => {
                        return Err(ConfigError::Invalid {
                            name: "DDB_LAKE_EXPORT_LOCATION",
                            value: v,
                            fix: "s3://BUCKET/PREFIX, the folder the table's exports are written under",
                        })
                    }
                }
            }
        };
        Ok(FunctionConfig {
            canary_key: get("DDB_LAKE_CANARY_KEY").filter(|v| !v.is_empty()),
            export_location,
            s3_timeouts,
            deadline_margin,
            spec,
            bucket: get("DDB_LAKE_BUCKET").filter(|s| !s.is_empty()),
            prefix: get("DDB_LAKE_PREFIX"),
            quarantine_prefix: get("DDB_LAKE_QUARANTINE_PREFIX").filter(|s| !s.is_empty()),
            encryption,
            max_concurrent_uploads,
            force_path_style,
            metrics_namespace: get("DDB_LAKE_METRICS_NAMESPACE")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.into()),
            function_name: get("AWS_LAMBDA_FUNCTION_NAME")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_FUNCTION_NAME.into()),
            redaction_key_secret: get(REDACTION_KEY_SECRET_VAR).filter(|s| !s.is_empty()),
        })
    }

    /// Loads and validates the spec.
    pub fn load_spec(&self) -> Result<LakeSpec, ConfigError> {
        Ok(match &self.spec {
            SpecSource::Path(p) => LakeSpec::from_file(p)?,
            SpecSource::Inline(t) => LakeSpec::from_toml(t, "DDB_LAKE_SPEC")?,
            SpecSource::Default => {
                if self.bucket.is_none() {
                    return Err(ConfigError::NoBucket);
                }
                LakeSpec::default()
            }
        })
    }

    /// How long a batch may spend writing when the invocation has `left` before Lambda's
    /// deadline: all of it but the margin, and never less than half of it (a margin larger
    /// than the function's timeout would otherwise fail every batch at once).
    pub fn write_time(&self, left: Duration) -> Duration {
        left.saturating_sub(self.deadline_margin.min(left / 2))
    }

    /// Bucket and prefix: the overrides, else the spec's location.
    pub fn location(&self, spec: &LakeSpec) -> (String, String) {
        (
            self.bucket.clone().unwrap_or_else(|| spec.location.bucket.clone()),
            self.prefix.clone().unwrap_or_else(|| spec.location.prefix.clone()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn configuration_is_checked() {
        let c = FunctionConfig::from_vars(vars(&[("DDB_LAKE_BUCKET", "b"), ("DDB_LAKE_SSE", "aws:kms:k1")])).unwrap();
        assert_eq!(c.encryption, Encryption::Kms(Some("k1".into())));
        assert_eq!(c.max_concurrent_uploads, DEFAULT_MAX_CONCURRENT_UPLOADS);
        assert_eq!(c.location(&c.load_spec().unwrap()), ("b".into(), "lake".into()));
        assert_eq!(c.export_location, None);
        let c = FunctionConfig::from_vars(vars(&[("DDB_LAKE_EXPORT_LOCATION", "s3://exp/tables/a/")])).unwrap();
        assert_eq!(c.export_location, Some(("exp".into(), "tables/a".into())));
        let e = FunctionConfig::from_vars(vars(&[("DDB_LAKE_EXPORT_LOCATION", "exp/tables")])).unwrap_err();
        assert!(e.to_string().contains("DDB_LAKE_EXPORT_LOCATION=\"exp/tables\""), "{e}");
        let e = FunctionConfig::from_vars(vars(&[("DDB_LAKE_MAX_CONCURRENT_UPLOADS", "0")])).unwrap_err();
        assert!(e.to_string().contains("DDB_LAKE_MAX_CONCURRENT_UPLOADS"));
        let e = FunctionConfig::from_vars(vars(&[])).unwrap().load_spec().unwrap_err();
        assert!(e.to_string().contains("DDB_LAKE_BUCKET"));
        let e = FunctionConfig::from_vars(vars(&[("DDB_LAKE_SPEC", "[lake]\n")])).unwrap().load_spec().unwrap_err();
        assert!(e.to_string().starts_with("DDB_LAKE_SPEC"), "{e}");
    }

    #[test]
    fn time_bounds_have_defaults_and_are_checked() {
        let c = FunctionConfig::from_vars(vars(&[("DDB_LAKE_BUCKET", "b")])).unwrap();
        assert_eq!(
            c.s3_timeouts,
            S3Timeouts {
                connect: Duration::from_secs(3),
                read: Duration::from_secs(10),
                attempt: Duration::from_secs(20)
            }
        );
        assert_eq!(c.deadline_margin, Duration::from_secs(5));
        // 60 s left: 55 s to write; 6 s left: half of it, not 1 s.
        assert_eq!(c.write_time(Duration::from_secs(60)), Duration::from_secs(55));
        assert_eq!(c.write_time(Duration::from_secs(6)), Duration::from_secs(3));
        assert_eq!(c.write_time(Duration::ZERO), Duration::ZERO);
        let c = FunctionConfig::from_vars(vars(&[
            ("DDB_LAKE_S3_CONNECT_TIMEOUT_MS", "250"),
            ("DDB_LAKE_S3_READ_TIMEOUT_MS", "1500"),
            ("DDB_LAKE_S3_ATTEMPT_TIMEOUT_MS", " 2000 "),
            ("DDB_LAKE_DEADLINE_MARGIN_MS", "800"),
        ]))
        .unwrap();
        assert_eq!(c.s3_timeouts.connect, Duration::from_millis(250));
        assert_eq!(c.s3_timeouts.read, Duration::from_millis(1500));
        assert_eq!(c.s3_timeouts.attempt, Duration::from_millis(2000));
        assert_eq!(c.write_time(Duration::from_secs(10)), Duration::from_millis(9200));
        for bad in ["0", "-1", "2s", "900001"] {
            let e = FunctionConfig::from_vars(vars(&[("DDB_LAKE_S3_ATTEMPT_TIMEOUT_MS", bad)])).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "DDB_LAKE_S3_ATTEMPT_TIMEOUT_MS={bad:?} is not valid: a whole number of milliseconds from 1 to 900000"
                )
            );
        }
    }

    #[test]
    fn function_name_and_redaction_key_secret_come_from_their_variables() {
        let c = FunctionConfig::from_vars(vars(&[("DDB_LAKE_BUCKET", "b")])).unwrap();
        assert_eq!(c.function_name, "ddb-lake-normalizer");
        assert_eq!(c.redaction_key_secret, None);
        let c = FunctionConfig::from_vars(vars(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "sync-lake"),
            ("DDB_LAKE_REDACTION_KEY_SECRET", "arn:aws:secretsmanager:us-east-1:1:secret:k-AbCdEf"),
            // The key itself in the environment is not read.
            ("DDB_LAKE_REDACTION_KEY", "k-0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(c.function_name, "sync-lake");
        assert_eq!(c.redaction_key_secret.as_deref(), Some("arn:aws:secretsmanager:us-east-1:1:secret:k-AbCdEf"));
        assert!(!format!("{c:?}").contains("k-0123456789abcdef"));
    }
}
