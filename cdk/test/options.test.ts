// The deployment's options, each asserted on the template it produces: an existing table's
// stream, KMS encryption, arm64 and other function and mapping settings, no access logs,
// an e-mail subscription, the default lake without a spec, a hashing spec and its secret,
// building from the workspace with cargo-lambda; and the errors bad context values give.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';

import { Match } from 'aws-cdk-lib/assertions';

import { assertNagClean, EXAMPLE_SPEC, logicalIdOf, resourcesOf, Synthesized, synth, writeSpec } from './helpers';

const STREAM = 'arn:aws:dynamodb:eu-west-1:123456789012:table/sync-configurations/stream/2026-11-01T00:00:00.000';

const nagClean = ({ app }: Synthesized) => assertNagClean(app);
const logicalId = (s: Synthesized, c: { node: { defaultChild?: unknown } }) => logicalIdOf(s.stack, c);

describe('an existing table', () => {
  const s = synth({ tableStreamArn: STREAM });
  it('writes no heartbeat into it unless asked (canary=true), then into that table', () => {
    assert.equal(resourcesOf(s.template, 'AWS::Scheduler::Schedule').filter(([, x]) => x.Properties.ScheduleExpression === 'rate(5 minutes)').length, 0);
    const fn = Object.values(s.template.findResources('AWS::Lambda::Function'))[0].Properties;
    assert.equal(fn.Environment.Variables.DDB_LAKE_CANARY_KEY, undefined);
    const on = synth({ tableStreamArn: STREAM, canary: 'true', canaryAlarmMinutes: 30 });
    const [[, heartbeat]] = resourcesOf(on.template, 'AWS::Scheduler::Schedule').filter(([, x]) => x.Properties.ScheduleExpression === 'rate(5 minutes)');
    assert.ok(JSON.stringify(heartbeat.Properties.Target.Input).includes('\\"TableName\\":\\"sync-configurations\\"'));
    const alarm = resourcesOf(on.template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties).find((a) => a.MetricName === 'CanaryRecords');
    assert.equal(alarm.EvaluationPeriods, 6);
    assert.throws(() => synth({ canaryAlarmMinutes: 12 }), /canaryAlarmMinutes=12: expected a multiple of 5/);
  });
  it('reads the given stream and creates no table', () => {
    s.template.resourceCountIs('AWS::DynamoDB::Table', 0);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: STREAM });
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
            Resource: STREAM,
          }),
        ]),
      },
    });
    s.template.hasOutput('StreamArn', { Value: STREAM });
  });
  it('passes cdk-nag', () => nagClean(s));
});

describe('KMS encryption', () => {
  const s = synth({ encryption: 'KMS' });
  const keyArn = { 'Fn::GetAtt': [logicalId(s, s.stack.storage.key!), 'Arn'] };
  it('encrypts the lake, results, queue, topic and Athena results with one rotating key', () => {
    s.template.resourceCountIs('AWS::KMS::Key', 1);
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    for (const bucket of [s.stack.storage.lakeBucket, s.stack.storage.resultsBucket]) {
      const props = s.template.findResources('AWS::S3::Bucket')[logicalId(s, bucket)].Properties;
      assert.deepEqual(props.BucketEncryption.ServerSideEncryptionConfiguration[0], {
        BucketKeyEnabled: true,
        ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn },
      });
    }
    s.template.hasResourceProperties('AWS::SQS::Queue', { KmsMasterKeyId: keyArn });
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn });
    s.template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: {
        ResultConfiguration: { EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: keyArn } },
      },
    });
  });
  it('tells the function to use the key and lets it', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DDB_LAKE_SSE: { 'Fn::Join': ['', ['aws:kms:', keyArn]] } }) },
    });
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: keyArn })]),
      },
    });
  });
  it('lets services use the key only for this account (aws:SourceAccount and aws:SourceArn)', () => {
    for (const mode of [s, synth()]) {
      const statements = Object.values(mode.template.findResources('AWS::KMS::Key')).flatMap(
        (key: any) => key.Properties.KeyPolicy.Statement,
      );
      const forServices = statements.filter((st: any) => st.Principal?.Service !== undefined);
      assert.ok(forServices.length > 0, 'a statement for CloudWatch alarms');
      for (const st of forServices) {
        assert.deepEqual(st.Condition.StringEquals['aws:SourceAccount'], { Ref: 'AWS::AccountId' }, JSON.stringify(st));
        assert.ok(st.Condition.ArnLike['aws:SourceArn'], JSON.stringify(st));
      }
    }
  });
  it('passes cdk-nag', () => nagClean(s));
});

describe('function and mapping settings', () => {
  const s = synth({
    architecture: 'arm64',
    memoryMb: '128',
    logRetentionDays: 90,
    startingPosition: 'LATEST',
    batchSize: 200,
    maxBatchingWindowSeconds: 0,
    bisectOnError: 'false',
    retryAttempts: 3,
    maxRecordAgeSeconds: 3600,
    parallelizationFactor: 4,
    accessLogs: 'false',
    alarmEmail: 'oncall@example.com',
    bytesScannedCutoffMb: 100,
    iteratorAgeAlarmSeconds: 120,
  });
  it('are passed through', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', { Architectures: ['arm64'], MemorySize: 128 });
    s.template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['arm64'] });
    s.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      StartingPosition: 'LATEST',
      BatchSize: 200,
      MaximumBatchingWindowInSeconds: 0,
      BisectBatchOnFunctionError: false,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 3600,
      ParallelizationFactor: 4,
    });
    s.template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: Match.objectLike({ BytesScannedCutoffPerQuery: 100 * 1024 * 1024 }),
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'IteratorAge', Threshold: 120000 });
  });
  it('accessLogs=false leaves out the logs bucket', () => {
    assert.equal(resourcesOf(s.template, 'AWS::S3::Bucket').length, 2);
    for (const [, b] of resourcesOf(s.template, 'AWS::S3::Bucket')) assert.equal(b.Properties.LoggingConfiguration, undefined);
  });
  it('alarmEmail subscribes the address to the alarm topic', () => {
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: logicalId(s, s.stack.monitoring.topic) },
    });
  });
  it('passes cdk-nag', () => nagClean(s));
});

describe('backfill settings', () => {
  const s = synth({
    exportBucket: 'acme-exports',
    exportPrefix: '/ddb/exports/',
    backfillMaxConcurrency: '20',
    backfillToleratedFailurePercentage: 5,
    backfillMemoryMb: 3008,
    backfillTimeoutSeconds: 600,
    encryption: 'KMS',
  });
  const exportsArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-exports/ddb/exports/*']] };
  it('reads exports from the given bucket and prefix only, and tells the worker where', () => {
    const statements = resourcesOf(s.template, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const reads = statements.filter((st: any) => st.Action === 's3:GetObject' && !['ReadSnapshotRows', 'ReadLake'].includes(st.Sid));
    // The worker's role and the state machine's (its ItemReader); besides them, only the
    // worker's read of the lake's `snapshots` rows (an incremental export's plan) and the
    // compaction's read of the lake (tested in compaction.test.ts).
    assert.deepEqual(reads.map((st: any) => st.Resource), [exportsArn, exportsArn]);
    const rows = statements.filter((st: any) => st.Sid === 'ReadSnapshotRows');
    assert.equal(rows.length, 1);
    assert.ok(JSON.stringify(rows[0].Resource).endsWith('/snapshots/*"]]}'), JSON.stringify(rows[0].Resource));
    const listing = statements.find((st: any) => st.Sid === 'ListExports');
    assert.deepEqual(listing.Condition, { StringLike: { 's3:prefix': ['ddb/exports/*'] } });
    const worker = s.template.findResources('AWS::Lambda::Function')[logicalId(s, s.stack.backfill.worker)].Properties;
    assert.equal(worker.Environment.Variables.DDB_LAKE_EXPORT_LOCATION, 's3://acme-exports/ddb/exports');
    assert.equal(worker.MemorySize, 3008);
    assert.equal(worker.Timeout, 600);
    s.template.hasOutput('ExportLocation', { Value: 's3://acme-exports/ddb/exports' });
  });
  it('sets the Map\'s concurrency and tolerated failures', () => {
    const machine = Object.values(s.template.findResources('AWS::StepFunctions::StateMachine'))[0].Properties;
    const text = JSON.stringify(machine.DefinitionString);
    assert.match(text, /\\"MaxConcurrency\\":20[,}]/);
    assert.match(text, /\\"ToleratedFailurePercentage\\":5[,}]/);
  });
  it('lets the worker use the lake key', () => {
    const keyArn = { 'Fn::GetAtt': [logicalId(s, s.stack.storage.key!), 'Arn'] };
    const roleId = logicalId(s, s.stack.backfill.role);
    const statements = resourcesOf(s.template, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    assert.deepEqual(
      statements.filter((st: any) => st.Sid === 'UseDataKey').map((st: any) => st.Resource),
      [keyArn],
    );
  });
  it('passes cdk-nag', () => nagClean(s));
});

describe('the default lake (spec=none)', () => {
  const s = synth({ spec: 'none' });
  it('writes the built-in tables under lake/ with no spec layer', () => {
    s.template.resourceCountIs('AWS::Lambda::LayerVersion', 0);
    const env = Object.values(s.template.findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables;
    assert.equal(env.DDB_LAKE_SPEC_PATH, undefined);
    assert.equal(env.DDB_LAKE_PREFIX, 'lake');
    assert.deepEqual(
      resourcesOf(s.template, 'AWS::Glue::Table').map(([, t]) => t.Properties.TableInput.Name).sort(),
      [
        '_rejects',
        'attributes',
        'attributes_compacted',
        'attributes_state',
        'changes',
        'changes_compacted',
        'changes_state',
        'compactions',
        'snapshots',
      ],
    );
  });
});

describe('a spec that hashes values', () => {
  const hashing = writeSpec(fs.readFileSync(EXAMPLE_SPEC, 'utf8').replace('action = "drop"', 'action = "hash"'));
  it('needs the redaction key secret, and says how to give it', () => {
    assert.throws(() => synth({ spec: hashing }), /HMAC key.*-c redactionKeySecret=/s);
  });
  it('names the secret in the environment and grants reading that one secret to both functions; the key is nowhere', () => {
    const s = synth({ spec: hashing, redactionKeySecret: 'ddb-lake/redaction-key' });
    const fn = Object.values(s.template.findResources('AWS::Lambda::Function'))[0].Properties;
    const env = fn.Environment.Variables;
    // Only the secret's ARN: no variable holds the key or a deploy-time reference to it.
    assert.equal(env.DDB_LAKE_REDACTION_KEY, undefined);
    const template = JSON.stringify(s.template.toJSON());
    assert.doesNotMatch(template, /resolve:secretsmanager/);
    const arn = JSON.stringify(env.DDB_LAKE_REDACTION_KEY_SECRET);
    assert.match(arn, /:secretsmanager:/);
    assert.match(arn, /secret:ddb-lake\/redaction-key/);
    const grants = resourcesOf(s.template, 'AWS::IAM::Policy')
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
      .filter((st: any) => [st.Action].flat().includes('secretsmanager:GetSecretValue'));
    // The stream function and the backfill worker, each in its own role.
    assert.equal(grants.length, 2, JSON.stringify(grants));
    const rolesGranted = resourcesOf(s.template, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes('secretsmanager:GetSecretValue'))
      .flatMap(([, p]) => p.Properties.Roles.map((r: any) => r.Ref))
      .sort();
    assert.deepEqual(rolesGranted, [logicalId(s, s.stack.backfill.role), logicalId(s, s.stack.normalizer.role)].sort());
    for (const grant of grants) {
      assert.equal(grant.Effect, 'Allow');
      const resource = JSON.stringify(grant.Resource);
      assert.match(resource, /secret:ddb-lake\/redaction-key-\?\?\?\?\?\?/, 'that one secret (any version suffix)');
      assert.doesNotMatch(resource, /"\*"/);
    }
    nagClean(s);
  });
  it('takes a complete secret ARN as it is', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ddb-lake/redaction-key-AbCdEf';
    const s = synth({ spec: hashing, redactionKeySecret: arn });
    const env = Object.values(s.template.findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables;
    assert.equal(env.DDB_LAKE_REDACTION_KEY_SECRET, arn);
    const grants = resourcesOf(s.template, 'AWS::IAM::Policy')
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
      .filter((st: any) => [st.Action].flat().includes('secretsmanager:GetSecretValue'));
    assert.deepEqual(grants.map((g: any) => g.Resource), [arn, arn]);
  });
});

describe('building from the workspace (no artifact)', () => {
  it('uses cargo-lambda-cdk for the workspace binary (bundling skipped here)', () => {
    const s = synth({ artifact: undefined, 'aws:cdk:bundling-stacks': [] });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Handler: 'bootstrap',
      Architectures: ['x86_64'],
    });
    assert.equal(s.stack.normalizer.function.constructor.name, 'RustFunction');
  });
});

describe('bad context values', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ memoryMb: 512 }, /memoryMb=512: expected a whole number from 128 to 256/],
    [{ encryption: 'AES' }, /encryption="AES": expected one of SSE_S3, KMS/],
    [{ tableName: 'orders' }, /tableStreamArn.*stream ARN of table orders/],
    [{ tableStreamArn: 'arn:aws:dynamodb:eu-west-1:123456789012:table/orders' }, /tableStreamArn=.*expected a DynamoDB stream ARN/],
    [{ tableStreamArn: STREAM, tableName: 'orders' }, /tableName="orders": expected the table of tableStreamArn \(sync-configurations\)/],
    [{ logRetentionDays: 8 }, /logRetentionDays=8: expected one of 1, 3, 5, 7, 14/],
    [{ bisectOnError: 'yes' }, /bisectOnError="yes": expected true or false/],
    [{ alarmEmail: 'oncall' }, /alarmEmail="oncall": expected an e-mail address/],
    [{ artifact: '/nonexistent/bootstrap.zip' }, /artifact: \/nonexistent\/bootstrap.zip does not exist\. Build it with `cargo lambda build/],
    [{ spec: '/nonexistent/spec.toml' }, /spec: \/nonexistent\/spec.toml does not exist/],
    [{ exportBucket: 'Exports_Bucket' }, /exportBucket="Exports_Bucket": expected an S3 bucket name/],
    [{ exportPrefix: 'exports/*' }, /exportPrefix="exports\/\*": expected a key prefix such as exports \(no wildcards/],
    [{ backfillMaxConcurrency: 0 }, /backfillMaxConcurrency=0: expected a whole number from 1 to 10000/],
    [{ backfillToleratedFailurePercentage: 101 }, /backfillToleratedFailurePercentage=101: expected a whole number from 0 to 100/],
    [{ backfillTimeoutSeconds: 901 }, /backfillTimeoutSeconds=901: expected a whole number from 60 to 900/],
  ];
  for (const [context, message] of cases) {
    it(`${JSON.stringify(context)} is refused with a message naming the fix`, () => {
      assert.throws(() => synth(context), message);
    });
  }
  it('a broken spec is refused with the ddb-lake message', () => {
    assert.throws(() => synth({ spec: writeSpec('[lake]\nlocation = 42\n') }), /ddb-lake schema export .* failed \(exit 1\): error: .*spec\.toml:2: invalid type: integer `42`, expected a string/);
  });
});

describe('a single-table spec with [[entities]]', () => {
  const entities = ['sync_config', 'user'];
  const text =
    fs.readFileSync(EXAMPLE_SPEC, 'utf8') +
    entities.map((e) => `\n[[entities]]\nname = "${e}"\n[entities.when]\nsk_prefix = "${e === 'user' ? 'USER#' : 'SYNC#'}"\n`).join('');
  const s = synth({ spec: writeSpec(text) });
  const columnsOf = (name: string): { Name: string; Type: string }[] => {
    const found = resourcesOf(s.template, 'AWS::Glue::Table').find(([, t]) => t.Properties.TableInput.Name === name);
    assert.ok(found, name);
    return found[1].Properties.TableInput.StorageDescriptor.Columns;
  };
  it('catalogs the entity column of changes and attributes, and of no other table', () => {
    for (const t of ['changes', 'attributes']) {
      const last = columnsOf(t).at(-1)!;
      assert.deepEqual([last.Name, last.Type], ['entity', 'string'], t);
      for (const parquet of [`${t}_compacted`, `${t}_state`]) assert.ok(columnsOf(parquet).some((c) => c.Name === 'entity'), parquet);
    }
    for (const t of ['sync_configs', 'field_mappings', '_rejects', 'snapshots', 'compactions']) {
      assert.ok(!columnsOf(t).some((c) => c.Name === 'entity'), t);
    }
  });
  it('publishes the per-entity questions with their parameter, and views that read the column itself', () => {
    const named = resourcesOf(s.template, 'AWS::Athena::NamedQuery').map(([, q]) => q.Properties);
    for (const q of ['popular_settings', 'most_changed_settings', 'write_traffic_by_customer', 'writes_by_hour']) {
      const found = named.find((n) => n.Name.startsWith(`${q} v`));
      assert.ok(found, q);
      assert.ok(found.Description.includes('entity (text) = *'), found.Description);
      assert.match(found.QueryString, /\('\*' = '\*' OR entity = '\*'\)/);
    }
    const [, views] = resourcesOf(s.template, 'Custom::DdbLakeViews')[0];
    const history = views.Properties.Views.find((v: { Name: string }) => v.Name === 'history_changes');
    assert.ok(history.Sql.includes('changed_attributes, entity, dt'), history.Sql);
    assert.ok(!history.Sql.includes('nullif(event_name, event_name)'), history.Sql);
  });
});
