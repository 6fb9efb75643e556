// The whole pipeline in one stack: the source table's stream (an existing table, or a demo
// table), the lake and results buckets, the normalizer function with its event source
// mapping, the Glue catalog and Athena queries, and the alarms and dashboard.
// Instantiated by bin/ddb-lake.ts and by the tests.

import { CfnOutput, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

import { Backfill, exportLocation } from './backfill';
import type { AthenaAccess } from './athena-access';
import { Canary, CANARY_KEY } from './canary';
import { LakeCatalog } from './catalog';
import { Compaction } from './compaction';
import { LakeViews } from './views';
import type { LakeConfig } from './config';
import { normalizerTables, type LakeInputs } from './inputs';
import { AnswerMetrics } from './metrics';
import { LakeMonitoring } from './monitoring';
import { Normalizer, underPrefix } from './normalizer';
import { LakeStorage } from './storage';

export interface DdbLakeStackProps extends StackProps {
  config: LakeConfig;
  inputs: LakeInputs;
}

/** The variable that names the redaction key's secret (read by the function at cold start). */
export const REDACTION_KEY_SECRET_VAR = 'DDB_LAKE_REDACTION_KEY_SECRET';

/**
 * The Secrets Manager secret holding the redaction key, when the spec hashes values. The
 * function reads it at cold start with GetSecretValue: the key is in neither the template nor
 * the function's environment (only the secret's ARN is).
 */
function redactionKeySecret(scope: Construct, config: LakeConfig, inputs: LakeInputs): secretsmanager.ISecret | undefined {
  if (!inputs.schema.Lake.RedactionKeyEnv) return undefined;
  if (!config.redactionKeySecret) {
    throw new Error(
      `the lake spec ${inputs.specPath} hashes values, so the function needs the HMAC key (at least 16 bytes): ` +
        'store it in Secrets Manager (aws secretsmanager create-secret --name ddb-lake/redaction-key --secret-string …) ' +
        'and pass `-c redactionKeySecret=ddb-lake/redaction-key`.',
    );
  }
  return config.redactionKeySecret.startsWith('arn:')
    ? secretsmanager.Secret.fromSecretCompleteArn(scope, 'RedactionKey', config.redactionKeySecret)
    : secretsmanager.Secret.fromSecretNameV2(scope, 'RedactionKey', config.redactionKeySecret);
}

export class DdbLakeStack extends Stack {
  readonly storage: LakeStorage;
  readonly normalizer: Normalizer;
  readonly backfill: Backfill;
  readonly catalog: LakeCatalog;
  readonly views: LakeViews;
  readonly compaction: Compaction;
  readonly monitoring: LakeMonitoring;
  readonly metrics: AnswerMetrics;
  /** The heartbeat writer, when the canary is on. */
  readonly canary?: Canary;
  /** The demo table, when no existing stream was given. */
  readonly demoTable?: dynamodb.Table;

  constructor(scope: Construct, id: string, props: DdbLakeStackProps) {
    super(scope, id, props);
    const { config, inputs } = props;
    const lake = inputs.schema.Lake;

    let streamArn = config.tableStreamArn;
    if (!streamArn) {
      this.demoTable = new dynamodb.Table(this, 'DemoTable', {
        partitionKey: { name: lake.PartitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: lake.SortKey ? { name: lake.SortKey, type: dynamodb.AttributeType.STRING } : undefined,
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      streamArn = this.demoTable.tableStreamArn!;
    }

    this.storage = new LakeStorage(this, 'Storage', {
      encryption: config.encryption,
      accessLogs: config.accessLogs,
      lakeBucketName: config.lakeBucketName,
      quarantinePrefix: lake.QuarantinePrefix,
      quarantineExpirationDays: config.quarantineExpirationDays,
      athenaResultsExpirationDays: config.athenaResultsExpirationDays,
      accessLogsExpirationDays: config.accessLogsExpirationDays,
    });

    // The function and the backfill worker write (and the dashboard shows) the text tables only.
    const tables = normalizerTables(inputs.schema).map((t) => t.Name);
    const redactionKey = redactionKeySecret(this, config, inputs);
    this.normalizer = new Normalizer(this, 'Normalizer', {
      ...config,
      streamArn,
      lakeBucket: this.storage.lakeBucket,
      prefix: lake.Prefix,
      tables,
      quarantinePrefix: lake.QuarantinePrefix,
      specToml: inputs.specToml,
      key: this.storage.key,
      extraEnvironment: {
        ...(redactionKey ? { [REDACTION_KEY_SECRET_VAR]: redactionKey.secretArn } : {}),
        ...(config.canary ? { DDB_LAKE_CANARY_KEY: CANARY_KEY } : {}),
      },
    });
    // GetSecretValue (and DescribeSecret) on that one secret; with its own KMS key, Decrypt too.
    redactionKey?.grantRead(this.normalizer.function);

    const exportBucket = config.exportBucket
      ? s3.Bucket.fromBucketName(this, 'ExportBucket', config.exportBucket)
      : this.storage.lakeBucket;
    this.backfill = new Backfill(this, 'Backfill', {
      code: this.normalizer.code,
      lakeBucket: this.storage.lakeBucket,
      prefix: lake.Prefix,
      tables,
      quarantinePrefix: lake.QuarantinePrefix,
      exportBucket,
      exportPrefix: config.exportPrefix,
      memoryMb: config.backfillMemoryMb,
      timeoutSeconds: config.backfillTimeoutSeconds,
      maxConcurrency: config.backfillMaxConcurrency,
      toleratedFailurePercentage: config.backfillToleratedFailurePercentage,
      logRetentionDays: config.logRetentionDays,
      key: this.storage.key,
    });
    redactionKey?.grantRead(this.backfill.worker);

    this.catalog = new LakeCatalog(this, 'Catalog', {
      schema: inputs.schema,
      sql: inputs.sql,
      lakeBucket: this.storage.lakeBucket,
      resultsBucket: this.storage.resultsBucket,
      key: this.storage.key,
      bytesScannedCutoffMb: config.bytesScannedCutoffMb,
    });

    // Every view, created at deploy (and again when the SQL or the spec changes).
    this.views = new LakeViews(this, 'Views', {
      sql: inputs.sql,
      database: inputs.schema.DatabaseName,
      workGroupName: this.catalog.workGroup.ref,
      resultsBucket: this.storage.resultsBucket,
      key: this.storage.key,
      logRetentionDays: config.logRetentionDays,
    });
    this.views.resource.node.addDependency(this.catalog);

    // What the compaction and the metric publishers run their statements with.
    const athenaAccess: AthenaAccess = {
      database: inputs.schema.DatabaseName,
      workGroupName: this.catalog.workGroup.ref,
      lakeBucket: this.storage.lakeBucket,
      prefix: lake.Prefix,
      resultsBucket: this.storage.resultsBucket,
      key: this.storage.key,
    };
    this.compaction = new Compaction(this, 'Compaction', {
      ...athenaAccess,
      compaction: inputs.sql.compaction,
      schedule: config.compactionSchedule,
      logRetentionDays: config.logRetentionDays,
    });
    // Its statements read the views and write the compacted tables.
    this.compaction.stateMachine.node.addDependency(this.catalog, this.views);

    if (config.canary) {
      this.canary = new Canary(this, 'Canary', {
        tableName: this.demoTable ? this.demoTable.tableName : config.tableName!,
        partitionKey: lake.PartitionKey,
        sortKey: lake.SortKey || undefined,
      });
      if (this.demoTable) this.canary.node.addDependency(this.demoTable);
    }

    this.monitoring = new LakeMonitoring(this, 'Monitoring', {
      function: this.normalizer.function,
      onFailureQueue: this.normalizer.onFailureQueue,
      backfill: this.backfill.stateMachine,
      compaction: this.compaction.stateMachine,
      canaryAlarmMinutes: config.canary ? config.canaryAlarmMinutes : undefined,
      metricsNamespace: config.metricsNamespace,
      tables,
      iteratorAgeAlarmSeconds: config.iteratorAgeAlarmSeconds,
      alarmEmail: config.alarmEmail,
      key: this.storage.key,
    });

    // Questions published as metrics, and the alarms the config declares on them.
    this.metrics = new AnswerMetrics(this, 'AnswerMetrics', {
      ...athenaAccess,
      queries: inputs.sql.queries,
      namespace: config.metricsNamespace,
      alarms: config.metricAlarms,
      topic: this.monitoring.topic,
      logRetentionDays: config.logRetentionDays,
    });
    for (const machine of Object.values(this.metrics.stateMachines)) machine.node.addDependency(this.views);

    new CfnOutput(this, 'LakeLocation', {
      description: 'Where the lake is',
      value: this.storage.lakeBucket.s3UrlForObject(underPrefix(lake.Prefix, '')),
    });
    new CfnOutput(this, 'StreamArn', { description: 'The stream the function reads', value: streamArn });
    if (this.demoTable) new CfnOutput(this, 'DemoTableName', { description: 'Write items here', value: this.demoTable.tableName });
    new CfnOutput(this, 'FunctionName', { value: this.normalizer.function.functionName });
    new CfnOutput(this, 'OnFailureQueueUrl', { value: this.normalizer.onFailureQueue.queueUrl });
    new CfnOutput(this, 'ExportLocation', {
      description: 'Export the table here (aws dynamodb export-table-to-point-in-time --s3-bucket … --s3-prefix …)',
      value: exportLocation(exportBucket.bucketName, config.exportPrefix),
    });
    new CfnOutput(this, 'BackfillStateMachineArn', {
      description: 'aws stepfunctions start-execution --state-machine-arn <this> --input \'{"export":"s3://…/AWSDynamoDB/<export id>"}\'',
      value: this.backfill.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'CompactionStateMachineArn', {
      description: `Runs ${config.compactionSchedule} (UTC); to run it now: aws stepfunctions start-execution --state-machine-arn <this>`,
      value: this.compaction.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'GlueDatabase', { value: inputs.schema.DatabaseName });
    new CfnOutput(this, 'AthenaWorkGroup', { value: this.catalog.workGroup.ref });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
  }
}
