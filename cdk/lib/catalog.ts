// The lake's catalog and queries: the Glue database and tables exactly as
// `ddb-lake schema export` defines them (only the bucket in their locations changes to the
// deployed one), an Athena workgroup whose settings queries cannot override (engine 3,
// encrypted results in the results bucket, a bytes-scanned cutoff per query), and every view
// and canned question of `sql/` as a named query carrying its version. Created by DdbLakeStack.

import { Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

import type { LakeFacts, LakeQuery, SchemaExport, SqlExport, TableInput } from './inputs';
import { ATHENA_RESULTS_PREFIX } from './storage';

/** Athena's limit on a named query's description. */
const MAX_DESCRIPTION = 1024;

export interface LakeCatalogProps {
  schema: SchemaExport;
  sql: SqlExport;
  lakeBucket: s3.IBucket;
  resultsBucket: s3.IBucket;
  key?: kms.IKey;
  bytesScannedCutoffMb: number;
}

/** `value` with the spec's `s3://bucket` replaced by the deployed bucket, when it points into the lake. */
export function relocate(value: string, lake: LakeFacts, bucketName: string): string {
  const specBucket = `s3://${lake.Bucket}`;
  if (!value.startsWith(lake.Location)) return value;
  return `s3://${bucketName}${value.slice(specBucket.length)}`;
}

/** The exported table with its location and location template pointing at the deployed bucket. */
export function deployedTableInput(table: TableInput, lake: LakeFacts, bucketName: string): TableInput {
  const parameters = Object.fromEntries(
    Object.entries(table.Parameters).map(([k, v]) => [k, k === 'storage.location.template' ? relocate(v, lake, bucketName) : v]),
  );
  return {
    ...table,
    Parameters: parameters,
    StorageDescriptor: { ...table.StorageDescriptor, Location: relocate(table.StorageDescriptor.Location, lake, bucketName) },
  };
}

/** A named query's name: `<name> v<version>`. */
export function namedQueryName(q: LakeQuery): string {
  return `${q.name} v${q.version}`;
}

/** What the console shows next to a named query: version, question, parameters, source. */
export function namedQueryDescription(q: LakeQuery): string {
  const parts = [`v${q.version}: ${q.question}`];
  if (q.kind === 'view') parts.push('View: the deploy creates it in the database (again when it changes); questions read it.');
  if (q.params.length > 0) {
    parts.push(`Parameters, at their defaults: ${q.params.map((p) => `${p.name} (${p.type}) = ${p.default}: ${p.help}`).join('; ')}.`);
  }
  parts.push(`Source: ${q.source}.`);
  const text = parts.join(' ');
  return text.length <= MAX_DESCRIPTION ? text : `${text.slice(0, MAX_DESCRIPTION - 1)}…`;
}

export class LakeCatalog extends Construct {
  readonly database: glue.CfnDatabase;
  readonly tables: glue.CfnTable[];
  readonly workGroup: athena.CfnWorkGroup;
  readonly namedQueries: athena.CfnNamedQuery[];

  constructor(scope: Construct, id: string, props: LakeCatalogProps) {
    super(scope, id);
    const account = Stack.of(this).account;
    const { schema } = props;

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: account,
      databaseInput: {
        name: schema.DatabaseName,
        description: `ddb-lake: the lake of DynamoDB table ${schema.Lake.SourceTable}`,
      },
    });

    this.tables = schema.Tables.map((t) => {
      const table = new glue.CfnTable(this, `Table-${t.Name}`, {
        catalogId: account,
        databaseName: schema.DatabaseName,
        tableInput: { name: t.Name },
      });
      // The exported TableInput is already in CloudFormation's shape: pass it through whole.
      table.addPropertyOverride('TableInput', deployedTableInput(t, schema.Lake, props.lakeBucket.bucketName));
      table.node.addDependency(this.database);
      return table;
    });

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: `ddb-lake-${schema.DatabaseName}`,
      description: `ddb-lake: queries over ${schema.DatabaseName}`,
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffMb * 1024 * 1024,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: props.resultsBucket.s3UrlForObject(ATHENA_RESULTS_PREFIX),
          expectedBucketOwner: account,
          encryptionConfiguration: props.key
            ? { encryptionOption: 'SSE_KMS', kmsKey: props.key.keyArn }
            : { encryptionOption: 'SSE_S3' },
        },
      },
    });

    this.namedQueries = props.sql.queries.map((q) => {
      const named = new athena.CfnNamedQuery(this, `Query-${q.name}`, {
        database: schema.DatabaseName,
        workGroup: this.workGroup.ref,
        name: namedQueryName(q),
        description: namedQueryDescription(q),
        queryString: q.sql,
      });
      named.node.addDependency(this.workGroup);
      return named;
    });
  }
}
