// What the deployment takes from the repository: the lake spec's catalog and lake facts
// (`ddb-lake schema export`) and the canned SQL (`ddb-lake sql export`).
//
// The CDK app never parses the spec or the SQL files itself: it asks the same `ddb-lake`
// command that `schema apply` and `sql run` use, so a deployment and the command line
// always register the same tables and publish the same queries. Called by the stack's
// entry point (bin/ddb-lake.ts) and by the tests, which compare the template with it.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository root (the workspace `Cargo.toml`), one level above `cdk/`. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** One Glue table, in CloudFormation's `TableInput` shape, exactly as exported. */
export interface TableInput {
  Name: string;
  Description?: string;
  TableType: string;
  Parameters: Record<string, string>;
  PartitionKeys: { Name: string; Type: string; Comment?: string }[];
  StorageDescriptor: {
    Columns: { Name: string; Type: string; Comment?: string }[];
    Location: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** The parts of the spec outside the catalog (`Lake` in `schema export`). */
export interface LakeFacts {
  /** `s3://bucket/prefix` as the spec writes it; every table location starts with it. */
  Location: string;
  Bucket: string;
  /** Key prefix, no leading or trailing `/`; may be empty. */
  Prefix: string;
  /** Folder of quarantined records, relative to the bucket. */
  QuarantinePrefix: string;
  SourceTable: string;
  PartitionKey: string;
  SortKey: string | null;
  /** Environment variable holding the HMAC key, when a redaction rule hashes. */
  RedactionKeyEnv: string | null;
}

/** The table parameter that names what writes a table's objects (glue-schema's `WRITTEN_BY`). */
export const WRITTEN_BY = 'ddb_lake.written_by';

/**
 * The tables whose objects the stream function and the backfill write: the text tables, not
 * those of `ddb-lake compact` (`compactions` and the Parquet `<table>_compacted`/`_state`).
 */
export function normalizerTables(schema: SchemaExport): TableInput[] {
  return schema.Tables.filter((t) => t.Parameters[WRITTEN_BY] === 'normalizer');
}

/** `ddb-lake schema export`. */
export interface SchemaExport {
  DatabaseName: string;
  Tables: TableInput[];
  Lake: LakeFacts;
}

/** A parameter of a canned question. */
export interface QueryParam {
  name: string;
  type: 'int' | 'date' | 'text';
  default: string;
  help: string;
}

/** One view or question of `ddb-lake sql export`. */
export interface LakeQuery {
  name: string;
  kind: 'view' | 'question';
  version: number;
  question: string;
  reads: string[];
  params: QueryParam[];
  source: string;
  /** What Athena runs: `CREATE OR REPLACE VIEW …` for a view, the body with default parameters for a question. */
  sql: string;
  /** The CloudWatch metric a question is published as (its header's `-- metric:`), or null. */
  metric: PublishedMetric | null;
}

/** A question published as a CloudWatch metric. */
export interface PublishedMetric {
  name: string;
  value: string;
  dimensions: string[];
  /** EventBridge Scheduler expression. */
  schedule: string;
  /** What Athena runs: the dimensions' columns, then the value's. */
  sql: string;
}

/** One statement of a compaction run (`ddb-lake sql export`, "compaction"). */
export interface CompactionStatement {
  name: string;
  step: 'plan' | 'batches' | 'history' | 'state' | 'row' | 'obsolete';
  /** The table a `history` or `state` statement writes. */
  table: string | null;
  question: string;
  /** The query the embedded engine runs (`history`, `state`), with `{{param}}` placeholders. */
  select: string;
  /** What Athena runs, with `{{param}}` placeholders (typed SQL literals). */
  sql: string;
}

/** The statements of a compaction run, in run order. */
export interface CompactionExport {
  version: number;
  source: string;
  batch_days: number;
  cutoff_minutes: number;
  params: QueryParam[];
  /** The key of the run's `compactions` row under the lake's prefix, with placeholders. */
  marker_key: string;
  marker_header: string;
  statements: CompactionStatement[];
}

/** `ddb-lake sql export`. */
export interface SqlExport {
  database: string;
  queries: LakeQuery[];
  compaction: CompactionExport;
}

/** Everything the stack reads from the repository. */
export interface LakeInputs {
  /** Absolute path of the lake spec, or undefined for the default lake (the built-in tables only). */
  specPath?: string;
  /** The spec's text (shipped to the function in a layer). */
  specToml?: string;
  schema: SchemaExport;
  sql: SqlExport;
}

/**
 * How to run `ddb-lake`: the binary named by `cli` (context `ddbLakeCli` or `DDB_LAKE_CLI`),
 * else `cargo run` in the repository (which builds it on first use).
 */
export function ddbLakeCommand(cli?: string): { file: string; prefix: string[] } {
  if (cli) {
    if (!fs.existsSync(cli)) {
      throw new Error(
        `ddbLakeCli: ${cli} does not exist. Build it with \`cargo build --bin ddb-lake\` (in ${REPO_ROOT}) ` +
          'or leave ddbLakeCli / DDB_LAKE_CLI unset to let the app run it with `cargo run`.',
      );
    }
    return { file: cli, prefix: [] };
  }
  return { file: 'cargo', prefix: ['run', '--quiet', '--locked', '--bin', 'ddb-lake', '--'] };
}

function runJson<T>(cli: string | undefined, args: string[]): T {
  const { file, prefix } = ddbLakeCommand(cli);
  const what = [file, ...prefix, ...args].join(' ');
  // `cargo run` may build for minutes: let its progress through. A built binary's message
  // goes into the error instead.
  const run = spawnSync(file, [...prefix, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', cli ? 'pipe' : 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error) throw new Error(`cannot run \`${what}\`: ${run.error.message}`);
  if (run.status !== 0) {
    throw new Error(`\`${what}\` failed (exit ${run.status}): ${(run.stderr ?? '').trim() || 'see its message above'}`);
  }
  return JSON.parse(run.stdout) as T;
}

/** Reads the spec (if any) and both exports. */
export function loadInputs(specPath: string | undefined, cli?: string): LakeInputs {
  let absolute: string | undefined;
  let specToml: string | undefined;
  const specArgs: string[] = [];
  if (specPath) {
    absolute = path.resolve(specPath);
    if (!fs.existsSync(absolute)) {
      throw new Error(
        `spec: ${absolute} does not exist. Pass the lake spec with \`-c spec=PATH\` ` +
          '(see docs/lake-spec.md), or `-c spec=none` for the default lake.',
      );
    }
    specToml = fs.readFileSync(absolute, 'utf8');
    specArgs.push('--spec', absolute);
  }
  const schema = runJson<SchemaExport>(cli, ['schema', 'export', ...specArgs]);
  const sql = runJson<SqlExport>(cli, ['sql', 'export', ...specArgs]);
  return { specPath: absolute, specToml, schema, sql };
}
