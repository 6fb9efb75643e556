// The whole pipeline in one stack: the source table's stream (an existing table, or a demo
// table), the lake and results buckets, the normalizer function with its event source
// mapping, the Glue catalog and Athena queries, and the alarms and dashboard.
// Instantiated by bin/ddb-lake.ts and by the tests.

import { CfnOutput, RemovalPolicy, SecretValue, Stack, StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

import { LakeCatalog } from './catalog';
import type { LakeConfig } from './config';
import type { LakeInputs } from './inputs';
import { LakeMonitoring } from './monitoring';
import { Normalizer, underPrefix } from './normalizer';
import { LakeStorage } from './storage';

export interface DdbLakeStackProps extends StackProps {
  config: LakeConfig;
  inputs: LakeInputs;
}

/** The redaction key's environment entry, from a Secrets Manager secret resolved at deploy time. */
function redactionEnvironment(scope: Construct, config: LakeConfig, inputs: LakeInputs): Record<string, string> {
  const keyEnv = inputs.schema.Lake.RedactionKeyEnv;
  if (!keyEnv) return {};
  if (!config.redactionKeySecret) {
    throw new Error(
      `the lake spec ${inputs.specPath} hashes values, so the function needs the HMAC key in ${keyEnv}: ` +
        'store it in Secrets Manager (aws secretsmanager create-secret --name ddb-lake/redaction-key --secret-string …) ' +
        'and pass `-c redactionKeySecret=ddb-lake/redaction-key`.',
    );
  }
  const secret = config.redactionKeySecret.startsWith('arn:')
    ? secretsmanager.Secret.fromSecretCompleteArn(scope, 'RedactionKey', config.redactionKeySecret)
    : secretsmanager.Secret.fromSecretNameV2(scope, 'RedactionKey', config.redactionKeySecret);
  // A dynamic reference: CloudFormation puts the value into the function's (KMS-encrypted)
  // environment at deploy time; it never appears in the template.
  return { [keyEnv]: SecretValue.secretsManager(secret.secretArn).unsafeUnwrap() };
}

export class DdbLakeStack extends Stack {
  readonly storage: LakeStorage;
  readonly normalizer: Normalizer;
  readonly catalog: LakeCatalog;
  readonly monitoring: LakeMonitoring;
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

    const tables = inputs.schema.Tables.map((t) => t.Name);
    this.normalizer = new Normalizer(this, 'Normalizer', {
      ...config,
      streamArn,
      lakeBucket: this.storage.lakeBucket,
      prefix: lake.Prefix,
      tables,
      quarantinePrefix: lake.QuarantinePrefix,
      specToml: inputs.specToml,
      key: this.storage.key,
      extraEnvironment: redactionEnvironment(this, config, inputs),
    });

    this.catalog = new LakeCatalog(this, 'Catalog', {
      schema: inputs.schema,
      sql: inputs.sql,
      lakeBucket: this.storage.lakeBucket,
      resultsBucket: this.storage.resultsBucket,
      key: this.storage.key,
      bytesScannedCutoffMb: config.bytesScannedCutoffMb,
    });

    this.monitoring = new LakeMonitoring(this, 'Monitoring', {
      function: this.normalizer.function,
      onFailureQueue: this.normalizer.onFailureQueue,
      metricsNamespace: config.metricsNamespace,
      tables,
      iteratorAgeAlarmSeconds: config.iteratorAgeAlarmSeconds,
      alarmEmail: config.alarmEmail,
      key: this.storage.key,
    });

    new CfnOutput(this, 'LakeLocation', {
      description: 'Where the lake is',
      value: this.storage.lakeBucket.s3UrlForObject(underPrefix(lake.Prefix, '')),
    });
    new CfnOutput(this, 'StreamArn', { description: 'The stream the function reads', value: streamArn });
    if (this.demoTable) new CfnOutput(this, 'DemoTableName', { description: 'Write items here', value: this.demoTable.tableName });
    new CfnOutput(this, 'FunctionName', { value: this.normalizer.function.functionName });
    new CfnOutput(this, 'OnFailureQueueUrl', { value: this.normalizer.onFailureQueue.queueUrl });
    new CfnOutput(this, 'GlueDatabase', { value: inputs.schema.DatabaseName });
    new CfnOutput(this, 'AthenaWorkGroup', { value: this.catalog.workGroup.ref });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
  }
}
