// The normalizer function and what feeds it: the Rust binary `ddb-lake-normalizer` on
// `provided.al2023`, the lake spec in a layer, its own log group and a role that may write
// only under the lake's table folders and the quarantine folder and read only its stream;
// the event source mapping on the table's stream with partial batch failures, and the
// encrypted SQS queue that receives what Lambda gives up on. Created by DdbLakeStack.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';

import type { LakeConfig } from './config';
import { REPO_ROOT } from './inputs';

/** Where the layer puts the spec inside the function's file system. */
export const SPEC_PATH_IN_LAYER = '/opt/ddb-lake/spec.toml';
/** The function binary in the workspace. */
export const NORMALIZER_BINARY = 'ddb-lake-normalizer';

/** The deployment settings the function and its mapping take as they are. */
type FunctionSettings = Pick<
  LakeConfig,
  | 'architecture'
  | 'artifact'
  | 'memoryMb'
  | 'timeoutSeconds'
  | 'logRetentionDays'
  | 'metricsNamespace'
  | 'startingPosition'
  | 'batchSize'
  | 'maxBatchingWindowSeconds'
  | 'bisectOnError'
  | 'retryAttempts'
  | 'maxRecordAgeSeconds'
  | 'parallelizationFactor'
>;

/** Where the lake's functions write. */
export interface LakeFolders {
  lakeBucket: s3.IBucket;
  /** Key prefix of the lake (may be empty). */
  prefix: string;
  /** Table folders under the prefix (`changes`, `attributes`, declared tables, `snapshots`). */
  tables: string[];
  quarantinePrefix: string;
}

export interface NormalizerProps extends FunctionSettings, LakeFolders {
  streamArn: string;
  /** The spec's text, or undefined for the default lake. */
  specToml?: string;
  key?: kms.IKey;
  /** Extra environment (the redaction key's secret, when the spec hashes). */
  extraEnvironment: Record<string, string>;
}

/**
 * The on-failure destination of the event source mapping, granting exactly what Lambda needs
 * to send to it (sqs:SendMessage; with KMS, the role's `UseDataKey` statement covers the key)
 * instead of the broader grant of `SqsDlq` (GetQueueAttributes, GetQueueUrl, kms:ReEncrypt*…).
 */
class OnFailureDestination implements lambda.IEventSourceDlq {
  constructor(private readonly queue: sqs.IQueue) {}

  bind(_target: lambda.IEventSourceMapping, targetHandler: lambda.IFunction): lambda.DlqDestinationConfig {
    targetHandler.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'SendToOnFailureQueue', actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }),
    );
    return { destination: this.queue.queueArn };
  }
}

/** `prefix/rest`, or `rest` when the prefix is empty. */
export function underPrefix(prefix: string, rest: string): string {
  return prefix ? `${prefix}/${rest}` : rest;
}

/**
 * Lets `role` put objects under the lake's table folders and its quarantine folder, nothing
 * else in the bucket; each folder's trailing `/*` is acknowledged to cdk-nag, `names` saying
 * how the objects there are named.
 */
export function grantLakeWrites(role: iam.Role, lake: LakeFolders, names: string): void {
  const folders = [...lake.tables.map((t) => underPrefix(lake.prefix, t)), lake.quarantinePrefix];
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'WriteLakeObjects',
      actions: ['s3:PutObject'],
      resources: folders.map((folder) => lake.lakeBucket.arnForObjects(`${folder}/*`)),
    }),
  );
  const bucketId = Stack.of(role).getLogicalId(lake.lakeBucket.node.defaultChild as CfnElement);
  for (const folder of folders) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${folder}/*]`,
      reason: `Objects are written under ${folder}/ with ${names}, so the folder needs a trailing /*; nothing else in the bucket is writable.`,
    });
  }
}

/**
 * The saved Logs Insights queries (AWS::Logs::QueryDefinition) on the function's log group,
 * by name. The function logs JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`): its own lines carry `level`,
 * `fields.message` and the event's fields, and `span.requestId`; Lambda's report line is
 * `type = "platform.report"` with `record.requestId` and `record.metrics`.
 */
export const LOG_QUERIES: Record<string, string> = {
  'errors by reason': [
    'fields @timestamp, level, fields.message, fields.reason, fields.error, record.status',
    '| filter level = "ERROR" or level = "WARN" or (type = "platform.report" and record.status != "success")',
    '| stats count(*) as events by level, fields.message, fields.reason, record.status',
    '| sort events desc',
  ].join('\n'),
  'slowest batches': [
    'filter fields.message = "batch done" or type = "platform.report"',
    '| fields coalesce(record.requestId, span.requestId) as request',
    '| stats max(record.metrics.durationMs) as duration_ms, max(record.metrics.maxMemoryUsedMB) as memory_mb,',
    '  max(fields.records) as records, max(fields.objects) as objects, max(fields.bytes) as bytes by request',
    '| sort duration_ms desc',
    '| limit 25',
  ].join('\n'),
  'quarantined records by reason': [
    'filter fields.message = "record quarantined"',
    '| stats count(*) as records by fields.reason',
    '| sort records desc',
  ].join('\n'),
  'objects written per table': [
    'filter fields.message = "objects written"',
    '| stats sum(fields.objects) as objects by fields.table',
    '| sort objects desc',
  ].join('\n'),
};

/** The function's code: the prebuilt artifact (a zip, or a folder with `bootstrap`), checked. */
function prebuiltCode(artifact: string): lambda.Code {
  const absolute = path.resolve(artifact);
  const help =
    'Build it with `cargo lambda build --release --x86-64 -p ddb-lake-function --bin ddb-lake-normalizer --output-format zip` ' +
    '(it writes target/lambda/ddb-lake-normalizer/bootstrap.zip), or leave out -c artifact to build it during synth.';
  if (!fs.existsSync(absolute)) throw new Error(`artifact: ${absolute} does not exist. ${help}`);
  if (fs.statSync(absolute).isDirectory()) {
    if (!fs.existsSync(path.join(absolute, 'bootstrap'))) {
      throw new Error(`artifact: ${absolute} has no \`bootstrap\` file (the function's executable). ${help}`);
    }
  } else if (!absolute.endsWith('.zip')) {
    throw new Error(`artifact: ${absolute} is neither a .zip nor a folder holding \`bootstrap\`. ${help}`);
  }
  return lambda.Code.fromAsset(absolute);
}

/**
 * A folder holding `ddb-lake/spec.toml`, for the spec layer's asset. Named by the spec's
 * SHA-256, so synthesizing again reuses it instead of leaving another folder behind.
 */
function specLayerFolder(specToml: string): string {
  const digest = createHash('sha256').update(specToml).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `ddb-lake-spec-layer-${digest}`);
  const file = path.join(dir, 'ddb-lake', 'spec.toml');
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== specToml) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, specToml);
  }
  return dir;
}

/** What every function of the lake runs: the binary, its architecture, environment and spec layer. */
export interface LakeFunctionCode {
  architecture: lambda.Architecture;
  environment: Record<string, string>;
  layers: lambda.ILayerVersion[];
  /** Prebuilt artifact; undefined = build with cargo-lambda. */
  artifact?: string;
}

/** What differs between the lake's functions (the stream function, the backfill worker). */
export interface LakeFunctionOptions {
  description: string;
  role: iam.IRole;
  memorySize: number;
  timeout: Duration;
  logGroup: logs.ILogGroup;
}

/**
 * A function running `ddb-lake-normalizer` on `provided.al2023`: the prebuilt artifact when
 * one is given, else built by cargo-lambda during synth.
 */
export function lakeFunction(scope: Construct, id: string, code: LakeFunctionCode, options: LakeFunctionOptions): lambda.Function {
  const common: lambda.FunctionOptions = {
    ...options,
    architecture: code.architecture,
    environment: code.environment,
    layers: code.layers,
    loggingFormat: lambda.LoggingFormat.JSON,
    tracing: lambda.Tracing.ACTIVE,
  };
  return code.artifact
    ? new lambda.Function(scope, id, {
        ...common,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        handler: 'bootstrap',
        code: prebuiltCode(code.artifact),
      })
    : new RustFunction(scope, id, {
        ...common,
        manifestPath: path.join(REPO_ROOT, 'Cargo.toml'),
        binaryName: NORMALIZER_BINARY,
        bundling: {
          architecture: code.architecture,
          cargoLambdaFlags: ['--package', 'ddb-lake-function'],
        },
      });
}

export class Normalizer extends Construct {
  readonly function: lambda.Function;
  /** The function's code and configuration, for the backfill worker to run the same. */
  readonly code: LakeFunctionCode;
  readonly role: iam.Role;
  readonly onFailureQueue: sqs.Queue;
  readonly eventSourceMapping: lambda.EventSourceMapping;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: NormalizerProps) {
    super(scope, id);
    const architecture = props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // Saved Logs Insights queries over the function's JSON log lines (their fields are
    // checked against the real function's output in tests/lambda.rs).
    for (const [name, query] of Object.entries(LOG_QUERIES)) {
      new logs.CfnQueryDefinition(this, `Query-${name.replace(/[^A-Za-z]/g, '')}`, {
        name: `ddb-lake/${Stack.of(this).stackName}/${name}`,
        queryString: query,
        logGroupNames: [this.logGroup.logGroupName],
      });
    }

    // Its own role: no managed policy, each statement written out below.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'ddb-lake normalizer: read its stream, write under the lake and quarantine folders, log',
    });
    grantLakeWrites(this.role, props, 'per-batch names (dt=DAY/<source>_<first>_<last>)');
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadTableStream',
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        resources: [props.streamArn],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListStreams',
        actions: ['dynamodb:ListStreams'],
        // ListStreams has no resource-level permissions; it returns stream ARNs, no data.
        resources: ['*'],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`${this.logGroup.logGroupArn}`],
      }),
    );
    if (props.key) {
      this.role.addToPolicy(
        new iam.PolicyStatement({
          // GenerateDataKey for SSE-KMS PutObject; GenerateDataKey and Decrypt for sending to
          // the KMS-encrypted on-failure queue. The role cannot read objects, so Decrypt opens nothing.
          sid: 'UseDataKey',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.key.keyArn],
        }),
      );
    }

    const environment: Record<string, string> = {
      DDB_LAKE_BUCKET: props.lakeBucket.bucketName,
      DDB_LAKE_PREFIX: props.prefix,
      DDB_LAKE_QUARANTINE_PREFIX: props.quarantinePrefix,
      DDB_LAKE_SSE: props.key ? `aws:kms:${props.key.keyArn}` : 'AES256',
      DDB_LAKE_METRICS_NAMESPACE: props.metricsNamespace,
      ...props.extraEnvironment,
    };
    const layers: lambda.ILayerVersion[] = [];
    if (props.specToml !== undefined) {
      environment.DDB_LAKE_SPEC_PATH = SPEC_PATH_IN_LAYER;
      layers.push(
        new lambda.LayerVersion(this, 'SpecLayer', {
          code: lambda.Code.fromAsset(specLayerFolder(props.specToml)),
          compatibleArchitectures: [architecture],
          description: `ddb-lake lake spec, at ${SPEC_PATH_IN_LAYER}`,
        }),
      );
    }

    this.code = { architecture, environment, layers, artifact: props.artifact };
    this.function = lakeFunction(this, 'Function', this.code, {
      description: 'ddb-lake normalizer: DynamoDB stream records → gzip TSV rows in the S3 lake',
      role: this.role,
      memorySize: props.memoryMb,
      timeout: Duration.seconds(props.timeoutSeconds),
      logGroup: this.logGroup,
    });

    this.onFailureQueue = new sqs.Queue(this, 'OnFailureQueue', {
      ...(props.key
        ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.key }
        : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
      enforceSSL: true,
      // The messages name shards and sequence numbers to replay (`ddb-lake replay --after`).
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.onFailureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is the event source mapping's on-failure destination (a dead-letter queue itself); its messages only point at stream records, and an alarm fires on the first one.",
    });

    this.eventSourceMapping = this.function.addEventSourceMapping('TableStream', {
      eventSourceArn: props.streamArn,
      startingPosition:
        props.startingPosition === 'LATEST' ? lambda.StartingPosition.LATEST : lambda.StartingPosition.TRIM_HORIZON,
      batchSize: props.batchSize,
      maxBatchingWindow: Duration.seconds(props.maxBatchingWindowSeconds),
      bisectBatchOnError: props.bisectOnError,
      retryAttempts: props.retryAttempts,
      maxRecordAge: Duration.seconds(props.maxRecordAgeSeconds),
      reportBatchItemFailures: true,
      parallelizationFactor: props.parallelizationFactor,
      onFailure: new OnFailureDestination(this.onFailureQueue),
    });

    // The other wildcard in the role (the folders' are acknowledged by grantLakeWrites).
    const roleFindings = Validations.of(this.role);
    roleFindings.acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams and the X-Ray PutTraceSegments / PutTelemetryRecords actions (tracing: ACTIVE) have no resource-level permissions; none of them reads or writes data.',
    });
  }
}
