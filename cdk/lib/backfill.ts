// The backfill state machine: a DynamoDB export in S3 → snapshot rows in the lake, one data
// file per child of a Step Functions Distributed Map (docs/snapshots.md, "In AWS").
//
//   Plan (the worker checks the manifests; says where manifest-files.json is)
//   → DataFiles (Distributed Map: ItemReader reads manifest-files.json as JSON Lines, one
//     child per line; each child invokes the worker with {export, dataFile})
//   → Finish (the worker fails, naming the data files, unless every one has its `snapshots` row)
//
// The worker is the stream function's binary and configuration (normalizer/function,
// "Backfill steps") deployed a second time: with its own role, the only one that may read
// exports, and the memory and timeout of a long job. Created by DdbLakeStack.

import { CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';

import { grantLakeWrites, lakeFunction, LakeFolders, LakeFunctionCode, underPrefix } from './normalizer';

export interface BackfillProps extends LakeFolders {
  /** The stream function's code and configuration, run as it is. */
  code: LakeFunctionCode;
  /** The bucket the table's exports are written to. */
  exportBucket: s3.IBucket;
  /** The key prefix they are written under (`--s3-prefix` of the export; may be empty). */
  exportPrefix: string;
  memoryMb: number;
  timeoutSeconds: number;
  maxConcurrency: number;
  toleratedFailurePercentage: number;
  logRetentionDays: number;
  key?: kms.IKey;
}

/** Where the exports are: `s3://BUCKET/PREFIX`. */
export function exportLocation(bucketName: string, prefix: string): string {
  return prefix ? `s3://${bucketName}/${prefix}` : `s3://${bucketName}`;
}

export class Backfill extends Construct {
  readonly worker: lambda.Function;
  readonly role: iam.Role;
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BackfillProps) {
    super(scope, id);
    // What the worker and the ItemReader may read: the exports, and nothing else of that bucket.
    const exportObjects = props.exportBucket.arnForObjects(props.exportPrefix ? `${props.exportPrefix}/*` : '*');
    const exportListing = props.exportPrefix ? [`${props.exportPrefix}/*`] : ['*'];

    this.logGroup = new logs.LogGroup(this, 'WorkerLogGroup', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'WorkerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'ddb-lake backfill worker: read the table exports, write under the lake and quarantine folders, log',
    });
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadExports', actions: ['s3:GetObject'], resources: [exportObjects] }));
    this.role.addToPolicy(
      new iam.PolicyStatement({
        // Names only: a missing manifest or data file is then "not there", not "access denied".
        sid: 'ListExports',
        actions: ['s3:ListBucket'],
        resources: [props.exportBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': exportListing } },
      }),
    );
    grantLakeWrites(this.role, props, 'per-file names (dt=DAY/snapshot_<export id>_<data file>_<part>)');
    const snapshotsFolder = `${underPrefix(props.prefix, 'snapshots')}/*`;
    this.role.addToPolicy(
      new iam.PolicyStatement({
        // The finish step lists the `snapshots` rows of the export's day; the plan step of an
        // incremental export lists them all, to find the chain it extends.
        sid: 'ListSnapshotRows',
        actions: ['s3:ListBucket'],
        resources: [props.lakeBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [snapshotsFolder] } },
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        // The plan step of an incremental export reads the `snapshots` rows (which exports the lake has).
        sid: 'ReadSnapshotRows',
        actions: ['s3:GetObject'],
        resources: [props.lakeBucket.arnForObjects(snapshotsFolder)],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    if (props.key) {
      this.role.addToPolicy(
        new iam.PolicyStatement({
          // GenerateDataKey for SSE-KMS PutObject; Decrypt for exports written with the lake's key.
          sid: 'UseDataKey',
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.key.keyArn],
        }),
      );
    }

    this.worker = lakeFunction(
      this,
      'Worker',
      {
        ...props.code,
        environment: {
          ...props.code.environment,
          DDB_LAKE_EXPORT_LOCATION: exportLocation(props.exportBucket.bucketName, props.exportPrefix),
        },
      },
      {
        description: 'ddb-lake backfill worker: one data file of a DynamoDB export → snapshot rows in the S3 lake',
        role: this.role,
        memorySize: props.memoryMb,
        timeout: Duration.seconds(props.timeoutSeconds),
        logGroup: this.logGroup,
      },
    );

    // Plan and Finish: the worker given a step and the export, its answer kept at `resultPath`.
    const step = (id: string, comment: string, name: string, exportPath: string, resultPath: string) =>
      new tasks.LambdaInvoke(this, id, {
        comment,
        lambdaFunction: this.worker,
        payload: sfn.TaskInput.fromObject({ step: name, export: sfn.JsonPath.stringAt(exportPath) }),
        payloadResponseOnly: true,
        resultPath,
      });
    const plan = step('Plan', "Check the export's manifests; say where manifest-files.json is", 'plan', '$.export', '$.plan');
    const dataFile = new tasks.LambdaInvoke(this, 'BackfillDataFile', {
      comment: 'One data file: its rows, then its snapshots row',
      lambdaFunction: this.worker,
      payloadResponseOnly: true,
    });
    // Throttled when the account's concurrency is short: wait and try again. A failure of the
    // worker itself (a damaged file, a timeout) is not retried here: it names its file, and a
    // second run of the execution rewrites the same objects.
    dataFile.addRetry({
      errors: ['Lambda.TooManyRequestsException'],
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: 8,
      jitterStrategy: sfn.JitterType.FULL,
    });
    const map = new sfn.DistributedMap(this, 'DataFiles', {
      comment: "One child per line of the export's manifest-files.json",
      itemReader: new sfn.S3JsonLItemReader({
        bucketNamePath: sfn.JsonPath.stringAt('$.plan.bucket'),
        key: sfn.JsonPath.stringAt('$.plan.manifestFilesKey'),
      }),
      itemSelector: {
        export: sfn.JsonPath.stringAt('$.plan.export'),
        dataFile: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
      maxConcurrency: props.maxConcurrency,
      toleratedFailurePercentage: props.toleratedFailurePercentage,
      // A child may run as long as the worker's timeout (up to 15 minutes): past the 5 of an
      // express workflow.
      mapExecutionType: sfn.StateMachineType.STANDARD,
      // The children's answers would outgrow the 256 KiB of a state's output on a large table;
      // Finish reads what counts from the lake instead.
      resultPath: sfn.JsonPath.DISCARD,
    });
    map.itemProcessor(dataFile);
    const finish = step(
      'Finish',
      'Fail, naming them, unless every data file has its snapshots row',
      'finish',
      '$.plan.export',
      '$.snapshot',
    );

    const machineLogs = new logs.LogGroup(this, 'StateMachineLogGroup', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'ddb-lake backfill: start with {"export": "s3://BUCKET/PREFIX/AWSDynamoDB/<export id>"}',
      definitionBody: sfn.DefinitionBody.fromChainable(plan.next(map).next(finish)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      logs: { destination: machineLogs, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    // The ItemReader reads manifest-files.json with the state machine's role.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ReadExportManifests', actions: ['s3:GetObject'], resources: [exportObjects] }),
    );

    // Each wildcard, acknowledged with its reason.
    const stack = Stack.of(this);
    const workerFindings = Validations.of(this.role);
    const exportResource = this.resourceFinding(props.exportBucket, props.exportPrefix);
    for (const findings of [workerFindings, Validations.of(this.stateMachine.role)]) {
      findings.acknowledge({
        id: `AwsSolutions-IAM5[Resource::${exportResource}]`,
        reason: 'DynamoDB names the objects of an export (AWSDynamoDB/<export id>/…): any export under the export prefix may be backfilled, nothing else in its bucket is readable.',
      });
    }
    workerFindings.acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'The X-Ray PutTraceSegments / PutTelemetryRecords actions (tracing: ACTIVE) have no resource-level permissions.',
    });
    const machineFindings = Validations.of(this.stateMachine.role);
    machineFindings.acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Log delivery (logs:CreateLogDelivery and others) and X-Ray (tracing) have no resource-level permissions; none of them reads data.',
    });
    // The Distributed Map's own policy: its child executions have names only known at run time.
    const machineName = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${stack.getLogicalId(this.stateMachine.node.defaultChild as CfnElement)}"}]}]}`;
    const shown = (value: string, token: string) => (Token.isUnresolved(value) ? `<${token}>` : value);
    const executions =
      `arn:${shown(stack.partition, 'AWS::Partition')}:states:${shown(stack.region, 'AWS::Region')}:` +
      `${shown(stack.account, 'AWS::AccountId')}:execution:${machineName}`;
    for (const children of [`${executions}:*`, `${executions}/*:*`]) {
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${children}]`,
        reason:
          "The Distributed Map describes, stops and redrives its own child executions, whose names Step Functions chooses at run time; this state machine's executions only.",
      });
    }
    machineFindings.acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(this.worker.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason: "lambda:InvokeFunction on the worker's versions and aliases, as the LambdaInvoke task grants it; the worker only.",
    });
  }

  /** How cdk-nag names the export objects' ARN in a finding. */
  private resourceFinding(bucket: s3.IBucket, prefix: string): string {
    const objects = prefix ? `${prefix}/*` : '*';
    const cfn = bucket.node.defaultChild as CfnElement | undefined;
    return cfn ? `<${Stack.of(this).getLogicalId(cfn)}.Arn>/${objects}` : `arn:<AWS::Partition>:s3:::${bucket.bucketName}/${objects}`;
  }
}
