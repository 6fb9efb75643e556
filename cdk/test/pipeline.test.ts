// The default deployment (demo table, SSE-S3, x86_64, example spec), asserted on the
// synthesized template: event source mapping, the function's exact IAM statements, bucket
// security, the function's environment and spec layer, Glue tables equal to
// `ddb-lake schema export`, named queries equal to the files under sql/, alarms and the
// dashboard; and cdk-nag's AwsSolutions pack without an unacknowledged finding.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';

import { DEFAULTS } from '../lib/config';
import { normalizerTables, WRITTEN_BY } from '../lib/inputs';
import { assertNagClean, bodyAtDefaults, EXAMPLE_SPEC, logicalIdOf, resourcesOf, sqlFilesOnDisk, synth } from './helpers';

const { app, stack, template, inputs } = synth();
const lake = inputs.schema.Lake;
const logicalId = (c: { node: { defaultChild?: unknown } }) => logicalIdOf(stack, c);
const lakeBucketId = logicalId(stack.storage.lakeBucket);
const lakeArn = { 'Fn::GetAtt': [lakeBucketId, 'Arn'] };
const objectArn = (key: string) => ({ 'Fn::Join': ['', [lakeArn, `/${key}`]] });

/** The folder `cdk synth` staged an asset in, from the `<hash>.zip` S3 key the template names. */
function stagedAsset(assemblyDir: string, s3Key: string): string {
  assert.match(s3Key, /^[0-9a-f]{64}\.zip$/);
  return path.join(assemblyDir, `asset.${s3Key.slice(0, 64)}`);
}

describe('canary', () => {
  it('writes a heartbeat item to the demo table every 5 minutes, that item only', () => {
    const [[, heartbeat]] = resourcesOf(template, 'AWS::Scheduler::Schedule').filter(([, x]) => x.Properties.ScheduleExpression === 'rate(5 minutes)');
    const target = heartbeat.Properties.Target;
    assert.deepEqual(target.Arn, { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:::aws-sdk:dynamodb:putItem']] });
    const input = JSON.stringify(target.Input);
    assert.ok(input.includes(logicalId(stack.demoTable!)), 'the demo table');
    for (const part of [`\\"${lake.PartitionKey}\\":{\\"S\\":\\"ddb-lake#canary\\"}`, `\\"${lake.SortKey}\\":{\\"S\\":\\"heartbeat\\"}`, '<aws.scheduler.scheduled-time>']) {
      assert.ok(input.includes(part), `${part} in ${input}`);
    }
    const role = resourcesOf(template, 'AWS::IAM::Policy')
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
      .find((st: any) => st.Action === 'dynamodb:PutItem');
    assert.deepEqual(role.Condition, { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['ddb-lake#canary'] } });
  });

  it('tells the function the key and raises an alarm when no heartbeat reaches the lake for 15 minutes', () => {
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack.normalizer.function)].Properties;
    assert.equal(fn.Environment.Variables.DDB_LAKE_CANARY_KEY, 'ddb-lake#canary');
    const alarm = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties).find((a) => a.MetricName === 'CanaryRecords');
    assert.ok(alarm);
    assert.equal(alarm.Namespace, 'DdbLake');
    assert.equal(alarm.ComparisonOperator, 'LessThanThreshold');
    assert.equal(alarm.Threshold, 1);
    assert.equal(alarm.Period, 300);
    assert.equal(alarm.EvaluationPeriods, DEFAULTS.canaryAlarmMinutes / 5);
    assert.equal(alarm.DatapointsToAlarm, DEFAULTS.canaryAlarmMinutes / 5);
    assert.equal(alarm.TreatMissingData, 'breaching');
  });
});

describe('saved log queries', () => {
  it("saves the four Logs Insights queries on the function's log group", () => {
    const defs = resourcesOf(template, 'AWS::Logs::QueryDefinition').map(([, d]) => d.Properties);
    assert.deepEqual(
      defs.map((d) => d.Name),
      ['errors by reason', 'slowest batches', 'quarantined records by reason', 'objects written per table'].map((n) => `ddb-lake/${stack.stackName}/${n}`),
    );
    for (const d of defs) assert.deepEqual(d.LogGroupNames, [{ Ref: logicalId(stack.normalizer.logGroup as any) }]);
    const byName = Object.fromEntries(defs.map((d) => [d.Name.split('/').pop(), d.QueryString]));
    // The fields the function's log lines carry (tests/lambda.rs checks them on its output).
    assert.match(byName['quarantined records by reason'], /fields\.message = "record quarantined"[\s\S]*by fields\.reason/);
    assert.match(byName['objects written per table'], /fields\.message = "objects written"[\s\S]*sum\(fields\.objects\)[\s\S]*by fields\.table/);
    assert.match(byName['slowest batches'], /fields\.message = "batch done"[\s\S]*span\.requestId[\s\S]*sort duration_ms desc/);
    assert.match(byName['errors by reason'], /level = "ERROR" or level = "WARN"/);
  });
});

describe('source', () => {
  it('creates a demo table with a NEW_AND_OLD_IMAGES stream and the spec key names', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      KeySchema: [
        { AttributeName: lake.PartitionKey, KeyType: 'HASH' },
        { AttributeName: lake.SortKey, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    });
  });
});

describe('event source mapping', () => {
  it('has the documented defaults and an SQS on-failure destination', () => {
    const queueId = logicalId(stack.normalizer.onFailureQueue);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId(stack.demoTable!), 'StreamArn'] },
      FunctionName: { Ref: logicalId(stack.normalizer.function) },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: DEFAULTS.batchSize,
      MaximumBatchingWindowInSeconds: DEFAULTS.maxBatchingWindowSeconds,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: DEFAULTS.retryAttempts,
      // 6 hours: well inside the stream's 24-hour retention, so replay can still find them.
      MaximumRecordAgeInSeconds: 6 * 3600,
      ParallelizationFactor: DEFAULTS.parallelizationFactor,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
  });

  it('sends failures to an encrypted queue that refuses plain HTTP', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86400 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('least privilege', () => {
  const roleId = logicalId(stack.normalizer.role);
  const policies = resourcesOf(template, 'AWS::IAM::Policy').filter(([, p]) =>
    JSON.stringify(p.Properties.Roles).includes(roleId),
  );
  const statements: any[] = policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  const actionsOf = (s: any): string[] => [s.Action].flat();
  const resourcesOfStatement = (s: any): any[] => [s.Resource].flat();

  it('writes only under the table folders and the quarantine folder', () => {
    const puts = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
    assert.equal(puts.length, 1, JSON.stringify(puts));
    assert.deepEqual(actionsOf(puts[0]), ['s3:PutObject']);
    const expected = [
      ...normalizerTables(inputs.schema).map((t) => objectArn(`${lake.Prefix}/${t.Name}/*`)),
      objectArn(`${lake.QuarantinePrefix}/*`),
    ];
    const sorted = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
    assert.deepEqual(sorted(resourcesOfStatement(puts[0])), sorted(expected));
    assert.deepEqual(
      normalizerTables(inputs.schema).map((t) => t.Name),
      ['changes', 'attributes', 'sync_configs', 'field_mappings', '_rejects', 'snapshots'],
    );
    // Nothing the function writes is a table of `ddb-lake compact`.
    assert.deepEqual(
      inputs.schema.Tables.filter((t) => t.Parameters[WRITTEN_BY] === 'compaction').map((t) => t.Name),
      ['compactions', ...['changes', 'attributes', 'sync_configs', 'field_mappings'].flatMap((t) => [`${t}_compacted`, `${t}_state`])],
    );
  });

  it('reads only its stream', () => {
    const reads = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    const byAction = Object.fromEntries(reads.flatMap((s) => actionsOf(s).map((a) => [a, resourcesOfStatement(s)])));
    const stream = [{ 'Fn::GetAtt': [logicalId(stack.demoTable!), 'StreamArn'] }];
    assert.deepEqual(byAction, {
      'dynamodb:DescribeStream': stream,
      'dynamodb:GetRecords': stream,
      'dynamodb:GetShardIterator': stream,
      'dynamodb:ListStreams': ['*'],
    });
  });

  it('has nothing else: no managed policy, no wildcard action, `*` only where AWS has no resource-level form', () => {
    const role = template.findResources('AWS::IAM::Role')[roleId];
    assert.equal(role.Properties.ManagedPolicyArns, undefined);
    const all = statements.flatMap((s) => actionsOf(s)).sort();
    assert.deepEqual(all, [
      'dynamodb:DescribeStream',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
      'dynamodb:ListStreams',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:PutObject',
      'sqs:SendMessage',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    for (const s of statements) {
      assert.equal(s.Effect, 'Allow');
      for (const a of actionsOf(s)) assert.ok(!a.includes('*'), `wildcard action ${a}`);
      if (resourcesOfStatement(s).includes('*')) {
        for (const a of actionsOf(s)) assert.ok(['dynamodb:ListStreams', 'xray:PutTraceSegments', 'xray:PutTelemetryRecords'].includes(a), a);
      }
    }
    const logs = statements.find((s) => actionsOf(s).includes('logs:PutLogEvents'));
    assert.deepEqual(resourcesOfStatement(logs), [{ 'Fn::GetAtt': [logicalId(stack.normalizer.logGroup), 'Arn'] }]);
    const sqs = statements.find((s) => actionsOf(s).includes('sqs:SendMessage'));
    assert.deepEqual(resourcesOfStatement(sqs), [{ 'Fn::GetAtt': [logicalId(stack.normalizer.onFailureQueue), 'Arn'] }]);
  });
});

describe('buckets', () => {
  const buckets = resourcesOf(template, 'AWS::S3::Bucket');
  it('are encrypted, private, TLS-only and logged', () => {
    assert.equal(buckets.length, 3, 'lake, Athena results, access logs');
    for (const [id, b] of buckets) {
      assert.deepEqual(
        b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault,
        { SSEAlgorithm: 'AES256' },
        id,
      );
      assert.deepEqual(b.Properties.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      const policy = resourcesOf(template, 'AWS::S3::BucketPolicy').find(([, p]) => p.Properties.Bucket.Ref === id);
      assert.ok(policy, `${id} has a bucket policy`);
      const statements = policy[1].Properties.PolicyDocument.Statement;
      assert.ok(
        statements.some(
          (s: any) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false' && s.Principal.AWS === '*',
        ),
        `${id} refuses plain HTTP`,
      );
      assert.ok(
        statements.some((s: any) => s.Effect === 'Deny' && s.Condition?.NumericLessThan?.['s3:TlsVersion'] === 1.2),
        `${id} refuses TLS < 1.2`,
      );
      assert.equal(b.DeletionPolicy, 'Retain', id);
    }
    const logsId = logicalId(stack.storage.accessLogsBucket!);
    for (const id of [lakeBucketId, logicalId(stack.storage.resultsBucket)]) {
      assert.equal(template.findResources('AWS::S3::Bucket')[id].Properties.LoggingConfiguration.DestinationBucketName.Ref, logsId);
    }
  });

  it('expire quarantined records, query results and access logs', () => {
    const rules = (id: string) => template.findResources('AWS::S3::Bucket')[id].Properties.LifecycleConfiguration.Rules;
    assert.ok(
      rules(lakeBucketId).some(
        (r: any) => r.Prefix === `${lake.QuarantinePrefix}/` && r.ExpirationInDays === DEFAULTS.quarantineExpirationDays && r.Status === 'Enabled',
      ),
    );
    assert.ok(!rules(lakeBucketId).some((r: any) => r.ExpirationInDays && r.Prefix !== `${lake.QuarantinePrefix}/`), 'the lake itself never expires');
    assert.ok(rules(logicalId(stack.storage.resultsBucket)).some((r: any) => r.Prefix === 'athena-results/' && r.ExpirationInDays === DEFAULTS.athenaResultsExpirationDays));
    assert.ok(rules(logicalId(stack.storage.accessLogsBucket!)).some((r: any) => r.ExpirationInDays === DEFAULTS.accessLogsExpirationDays));
  });
});

describe('function', () => {
  it('runs the Rust binary on provided.al2023, x86_64, with tracing, JSON logs and the lake environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Handler: 'bootstrap',
      Architectures: ['x86_64'],
      MemorySize: DEFAULTS.memoryMb,
      Timeout: DEFAULTS.timeoutSeconds,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: logicalId(stack.normalizer.logGroup) } },
      Role: { 'Fn::GetAtt': [logicalId(stack.normalizer.role), 'Arn'] },
      Environment: {
        Variables: {
          DDB_LAKE_BUCKET: { Ref: lakeBucketId },
          DDB_LAKE_PREFIX: 'ddb/sync-configurations',
          DDB_LAKE_QUARANTINE_PREFIX: 'ddb/sync-configurations/_quarantine',
          DDB_LAKE_SSE: 'AES256',
          DDB_LAKE_METRICS_NAMESPACE: 'DdbLake',
          DDB_LAKE_SPEC_PATH: '/opt/ddb-lake/spec.toml',
        },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: DEFAULTS.logRetentionDays });
  });

  it('ships the spec file, byte for byte, in a layer at /opt/ddb-lake/spec.toml', () => {
    const assembly = app.synth();
    const layer = resourcesOf(template, 'AWS::Lambda::LayerVersion');
    assert.equal(layer.length, 1);
    const staged = path.join(stagedAsset(assembly.directory, layer[0][1].Properties.Content.S3Key), 'ddb-lake', 'spec.toml');
    assert.equal(fs.readFileSync(staged, 'utf8'), fs.readFileSync(EXAMPLE_SPEC, 'utf8'));
    template.hasResourceProperties('AWS::Lambda::Function', {
      Layers: [{ Ref: layer[0][0] }],
    });
  });

  it('packages the prebuilt artifact: the bootstrap binary itself', () => {
    const assembly = app.synth();
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack.normalizer.function)];
    const staged = path.join(stagedAsset(assembly.directory, fn.Properties.Code.S3Key), 'bootstrap');
    assert.ok(fs.readFileSync(staged).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])), 'an ELF executable');
  });
});

describe('catalog and queries', () => {
  it('registers the database and every table exactly as `ddb-lake schema export` defines them', () => {
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: inputs.schema.DatabaseName } });
    const tables = resourcesOf(template, 'AWS::Glue::Table');
    assert.equal(tables.length, inputs.schema.Tables.length);
    const relocated = (value: string) => {
      const specBucket = `s3://${lake.Bucket}`;
      assert.ok(value.startsWith(`${specBucket}/`), value);
      return { 'Fn::Join': ['', ['s3://', { Ref: lakeBucketId }, value.slice(specBucket.length)]] };
    };
    for (const exported of inputs.schema.Tables) {
      const found = tables.find(([, t]) => t.Properties.TableInput.Name === exported.Name);
      assert.ok(found, exported.Name);
      const expected = JSON.parse(JSON.stringify(exported));
      expected.StorageDescriptor.Location = relocated(exported.StorageDescriptor.Location);
      // The state tables have no partitions, so no location template.
      const template = exported.Parameters['storage.location.template'];
      if (template !== undefined) expected.Parameters['storage.location.template'] = relocated(template);
      assert.deepEqual(found[1].Properties.TableInput, expected);
      assert.equal(found[1].Properties.DatabaseName, inputs.schema.DatabaseName);
    }
  });

  it('runs Athena queries in a workgroup with enforced, encrypted settings and a scan cutoff', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: `ddb-lake-${inputs.schema.DatabaseName}`,
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        PublishCloudWatchMetricsEnabled: true,
        BytesScannedCutoffPerQuery: DEFAULTS.bytesScannedCutoffMb * 1024 * 1024,
        EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
        ResultConfiguration: {
          EncryptionConfiguration: { EncryptionOption: 'SSE_S3' },
          OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: logicalId(stack.storage.resultsBucket) }, '/athena-results/']] },
        },
      },
    });
  });

  it('publishes every file of sql/ as a named query with its version and its SQL', () => {
    const named = resourcesOf(template, 'AWS::Athena::NamedQuery').map(([, q]) => q.Properties);
    const files = sqlFilesOnDisk();
    assert.ok(files.length >= 13, `${files.length} files`);
    for (const f of files) {
      const q = named.find((n) => n.Name === `${f.name} v${f.version}`);
      assert.ok(q, `${f.path} is published as "${f.name} v${f.version}"`);
      assert.equal(q.Database, inputs.schema.DatabaseName);
      assert.ok(q.Description.startsWith(`v${f.version}: `), q.Description);
      if (f.kind === 'view') {
        assert.equal(q.QueryString, `CREATE OR REPLACE VIEW ${f.name} AS\n${f.body}`);
      } else {
        assert.equal(q.QueryString, bodyAtDefaults(f));
        for (const p of f.params) assert.ok(q.Description.includes(`${p.name} (${p.type}) = ${p.default}`), q.Description);
      }
    }
    // …plus history_ and live_ views of every compacted table and one generated current_<table>
    // view per declared table, and nothing else.
    const builtIn = ['changes', 'attributes', '_rejects', 'snapshots'];
    const declared = normalizerTables(inputs.schema).map((t) => t.Name).filter((n) => !builtIn.includes(n));
    const compacted = ['changes', 'attributes', ...declared];
    const generated = named.filter((n) => !files.some((f) => n.Name === `${f.name} v${f.version}`)).map((n) => n.Name);
    assert.deepEqual(
      generated.sort(),
      [
        ...declared.map((t) => `current_${t} v4`),
        ...compacted.flatMap((t) => [`history_${t} v3`, `live_${t} v3`]),
      ].sort(),
    );
  });
});

/** A `Fn::Join` of strings and references as one string, each reference as `<Ref>` or `<LogicalId.Attr>`. */
function joined(value: any): string {
  if (typeof value === 'string') return value;
  if (value.Ref) return `<${value.Ref}>`;
  if (value['Fn::GetAtt']) return `<${value['Fn::GetAtt'].join('.')}>`;
  const [sep, parts] = value['Fn::Join'];
  return parts.map(joined).join(sep);
}

describe('backfill state machine', () => {
  const machine = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(stack.backfill.stateMachine)];
  const definition = JSON.parse(joined(machine.Properties.DefinitionString));
  const workerId = logicalId(stack.backfill.worker);
  const worker = `<${workerId}.Arn>`;

  it('plans, fans out one child per line of manifest-files.json, then finishes', () => {
    assert.equal(definition.StartAt, 'Plan');
    assert.deepEqual(Object.keys(definition.States), ['Plan', 'DataFiles', 'Finish']);
    const { Plan, DataFiles, Finish } = definition.States;
    // The start input is {"export": "s3://…"}; the plan's answer goes to $.plan.
    assert.equal(Plan.Type, 'Task');
    assert.equal(Plan.Resource, worker);
    assert.deepEqual(Plan.Parameters, { step: 'plan', 'export.$': '$.export' });
    assert.equal(Plan.ResultPath, '$.plan');
    assert.equal(Plan.Next, 'DataFiles');
    // A Distributed Map whose ItemReader reads the JSON lines of the object the plan names.
    assert.equal(DataFiles.Type, 'Map');
    assert.deepEqual(DataFiles.ItemReader, {
      Resource: 'arn:<AWS::Partition>:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSONL' },
      Parameters: { 'Bucket.$': '$.plan.bucket', 'Key.$': '$.plan.manifestFilesKey' },
    });
    // Each child gets {export, dataFile: the line} (the event the worker takes).
    assert.deepEqual(DataFiles.ItemSelector, { 'export.$': '$.plan.export', 'dataFile.$': '$$.Map.Item.Value' });
    assert.deepEqual(DataFiles.ItemProcessor.ProcessorConfig, { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    assert.equal(DataFiles.MaxConcurrency, DEFAULTS.backfillMaxConcurrency);
    // No tolerated failures by default: one failed child fails the execution.
    assert.equal(DataFiles.ToleratedFailurePercentage, undefined);
    assert.equal(DataFiles.ResultPath, null, "the children's answers are not kept (256 KiB)");
    assert.equal(DataFiles.Next, 'Finish');
    const child = DataFiles.ItemProcessor.States[DataFiles.ItemProcessor.StartAt];
    assert.equal(child.Resource, worker);
    assert.equal(child.Parameters, undefined, 'the child passes its input (the ItemSelector output) as it is');
    assert.ok(child.End);
    const throttled = child.Retry.find((r: any) => r.ErrorEquals.includes('Lambda.TooManyRequestsException'));
    assert.ok(throttled && throttled.MaxAttempts >= 5, JSON.stringify(child.Retry));
    assert.ok(!child.Retry.some((r: any) => r.ErrorEquals.includes('States.ALL') || r.ErrorEquals.includes('States.TaskFailed')));
    assert.deepEqual(Finish.Parameters, { step: 'finish', 'export.$': '$.plan.export' });
    assert.equal(Finish.Resource, worker);
    assert.ok(Finish.End);
  });

  it('logs every event, traces, and is a standard workflow', () => {
    assert.equal(machine.Properties.StateMachineType, 'STANDARD');
    assert.equal(machine.Properties.LoggingConfiguration.Level, 'ALL');
    assert.deepEqual(machine.Properties.TracingConfiguration, { Enabled: true });
    template.hasOutput('BackfillStateMachineArn', { Value: { Ref: logicalId(stack.backfill.stateMachine) } });
  });

  it('runs the stream function\'s code and configuration, with the memory and time of a long job', () => {
    const fns = template.findResources('AWS::Lambda::Function');
    const stream = fns[logicalId(stack.normalizer.function)].Properties;
    const w = fns[workerId].Properties;
    assert.deepEqual(w.Code, stream.Code);
    assert.deepEqual(w.Layers, stream.Layers);
    assert.equal(w.MemorySize, DEFAULTS.backfillMemoryMb);
    assert.equal(w.Timeout, DEFAULTS.backfillTimeoutSeconds);
    assert.deepEqual(w.Role, { 'Fn::GetAtt': [logicalId(stack.backfill.role), 'Arn'] });
    const { DDB_LAKE_EXPORT_LOCATION, ...rest } = w.Environment.Variables;
    assert.deepEqual(rest, stream.Environment.Variables);
    assert.equal(joined(DDB_LAKE_EXPORT_LOCATION), `s3://<${lakeBucketId}>/${DEFAULTS.exportPrefix}`);
    template.hasOutput('ExportLocation', { Value: { 'Fn::Join': ['', ['s3://', { Ref: lakeBucketId }, `/${DEFAULTS.exportPrefix}`]] } });
  });

  const statementsOf = (roleId: string) =>
    resourcesOf(template, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
  const exportsArn = `<${lakeBucketId}.Arn>/${DEFAULTS.exportPrefix}/*`;

  it('lets only the worker read exports: the export prefix, and list what is there', () => {
    const shown = (s: any) => ({
      Sid: s.Sid,
      Action: s.Action,
      Resource: [s.Resource].flat().map(joined).sort(),
      ...(s.Condition ? { Condition: s.Condition } : {}),
    });
    const byPurpose = Object.fromEntries(statementsOf(logicalId(stack.backfill.role)).map((s) => [s.Sid ?? s.Action.join(','), shown(s)]));
    assert.deepEqual(byPurpose.ReadExports, { Sid: 'ReadExports', Action: 's3:GetObject', Resource: [exportsArn] });
    assert.deepEqual(byPurpose.ListExports, {
      Sid: 'ListExports',
      Action: 's3:ListBucket',
      Resource: [`<${lakeBucketId}.Arn>`],
      Condition: { StringLike: { 's3:prefix': [`${DEFAULTS.exportPrefix}/*`] } },
    });
    assert.deepEqual(
      byPurpose.WriteLakeObjects.Resource,
      [...normalizerTables(inputs.schema).map((t) => `<${lakeBucketId}.Arn>/${lake.Prefix}/${t.Name}/*`), `<${lakeBucketId}.Arn>/${lake.QuarantinePrefix}/*`].sort(),
    );
    assert.deepEqual(byPurpose.ListSnapshotRows.Condition, { StringLike: { 's3:prefix': [`${lake.Prefix}/snapshots/*`] } });
    // The lake's objects it reads: the `snapshots` rows only (an incremental export's plan).
    assert.deepEqual(byPurpose.ReadSnapshotRows, {
      Sid: 'ReadSnapshotRows',
      Action: 's3:GetObject',
      Resource: [`<${lakeBucketId}.Arn>/${lake.Prefix}/snapshots/*`],
    });
    assert.deepEqual(Object.keys(byPurpose).sort(), [
      'ListExports',
      'ListSnapshotRows',
      'ReadExports',
      'ReadSnapshotRows',
      'WriteLakeObjects',
      'WriteOwnLogs',
      'xray:PutTelemetryRecords,xray:PutTraceSegments',
    ]);
    // The stream function reads no export.
    const streamStatements = JSON.stringify(statementsOf(logicalId(stack.normalizer.role)));
    assert.ok(!streamStatements.includes('s3:GetObject') && !streamStatements.includes(`/${DEFAULTS.exportPrefix}/`));
  });

  it('lets the state machine invoke the worker only, and read only the export prefix', () => {
    const statements = statementsOf(logicalId(stack.backfill.stateMachine.role));
    const invoke = statements.find((s) => s.Action === 'lambda:InvokeFunction');
    assert.deepEqual([invoke.Resource].flat().map(joined), [worker, `${worker}:*`]);
    const reads = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('s3:')));
    assert.deepEqual(reads.map((s) => [s.Action, [s.Resource].flat().map(joined)]), [['s3:GetObject', [exportsArn]]]);
  });
});

describe('alarms and dashboard', () => {
  const topicId = logicalId(stack.monitoring.topic);
  const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const find = (metric: string) => {
    const a = alarms.find((x) => x.MetricName === metric);
    assert.ok(a, `an alarm on ${metric}`);
    return a;
  };

  it('watches lag, errors, throttles, the on-failure queue, quarantined records, rejected cells, failed records, backfills and compactions', () => {
    // Those nine, the metric publisher's (metrics.test.ts) and the canary's (below).
    assert.equal(alarms.length, 11);
    const expect = (metric: string, namespace: string, threshold: number, periods: number) => {
      const a = find(metric);
      assert.equal(a.Namespace, namespace, metric);
      assert.equal(a.Threshold, threshold, metric);
      assert.equal(a.EvaluationPeriods, periods, metric);
      assert.equal(a.ComparisonOperator, 'GreaterThanThreshold', metric);
      assert.equal(a.TreatMissingData, 'notBreaching', metric);
      assert.deepEqual(a.AlarmActions, [{ Ref: topicId }], metric);
      assert.deepEqual(a.OKActions, [{ Ref: topicId }], metric);
      return a;
    };
    const fn = { Ref: logicalId(stack.normalizer.function) };
    assert.deepEqual(expect('IteratorAge', 'AWS/Lambda', DEFAULTS.iteratorAgeAlarmSeconds * 1000, 5).Dimensions, [{ Name: 'FunctionName', Value: fn }]);
    expect('Errors', 'AWS/Lambda', 0, 1);
    expect('Throttles', 'AWS/Lambda', 0, 3);
    expect('ApproximateNumberOfMessagesVisible', 'AWS/SQS', 0, 1);
    assert.deepEqual(expect('RecordsQuarantined', 'DdbLake', 0, 1).Dimensions, [{ Name: 'FunctionName', Value: fn }]);
    assert.deepEqual(expect('CellsRejected', 'DdbLake', 0, 1).Dimensions, [{ Name: 'FunctionName', Value: fn }]);
    assert.deepEqual(expect('RecordsFailed', 'DdbLake', 0, 3).Dimensions, [{ Name: 'FunctionName', Value: fn }]);
    assert.deepEqual(expect('ExecutionsFailed', 'AWS/States', 0, 1).Dimensions, [
      { Name: 'StateMachineArn', Value: { Ref: logicalId(stack.backfill.stateMachine) } },
    ]);
    // Compaction runs that failed or timed out, summed.
    const compaction = alarms.find((a: any) => a.Metrics);
    assert.ok(compaction, 'an alarm on a math expression');
    assert.equal(compaction.Threshold, 0);
    assert.deepEqual(compaction.AlarmActions, [{ Ref: topicId }]);
    const expression = compaction.Metrics.find((m: any) => m.Expression);
    assert.equal(expression.Expression, 'failed + timedOut');
    const machine = { Ref: logicalId(stack.compaction.stateMachine) };
    const byId = Object.fromEntries(compaction.Metrics.filter((m: any) => m.MetricStat).map((m: any) => [m.Id, m.MetricStat]));
    assert.equal(byId.failed.Metric.MetricName, 'ExecutionsFailed');
    assert.equal(byId.timedOut.Metric.MetricName, 'ExecutionsTimedOut');
    for (const stat of Object.values(byId) as any[]) {
      assert.deepEqual(stat.Metric.Dimensions, [{ Name: 'StateMachineArn', Value: machine }]);
      assert.equal(stat.Stat, 'Sum');
    }
  });

  it('deliver to an encrypted topic that CloudWatch may use', () => {
    const keyId = logicalId(stack.monitoring.topic.masterKey as any);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:*'],
                  ],
                },
              },
            },
          }),
        ]),
      },
    });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('has a dashboard with throughput, lag, errors and bytes written', () => {
    const [[, dashboard]] = resourcesOf(template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(Stack.of(stack).resolve(dashboard.Properties.DashboardBody));
    for (const metric of ['RecordsIn', 'IteratorAge', 'StreamLagMs', 'Errors', 'RecordsFailed', 'RecordsQuarantined', 'BytesWritten', 'RowsOut']) {
      assert.ok(body.includes(`\\"${metric}\\"`), metric);
    }
    for (const t of normalizerTables(inputs.schema)) assert.ok(body.includes(`\\"Table\\",\\"${t.Name}\\"`), t.Name);
  });
});

describe('cdk-nag', () => {
  it('AwsSolutions reports nothing that is not acknowledged with a reason', () => {
    assertNagClean(app);
  });
});
