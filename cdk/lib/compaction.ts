// The compaction state machine (docs/compaction.md, "In AWS"): the statements of `ddb-lake sql
// export`'s "compaction", run in Athena by Step Functions on a schedule (EventBridge
// Scheduler), exactly as exported:
//
//   Plan (through, run id, cutoff, start; fails if the lake is compacted through a later day)
//   → Batches (the days to fold, at most 100 per batch) → nothing to fold: succeed
//   → History (inline Map over the batches, one at a time: one INSERT INTO per table)
//   → State (one INSERT INTO per table, changes first)
//   → Row (the run's compactions row, put with S3 PutObject: from then on the run counts)
//   → Obsolete (the keys the run made redundant, as an Athena result CSV)
//   → Remove (Distributed Map over that CSV: S3 DeleteObjects, 1,000 keys per child).
//
// Values reach the statements only from the plan's own answer (dates, the run id, times),
// through States.Format; an execution's input is ignored. Every Athena step waits for its
// query (the .sync integration), so the run costs nothing while Athena works. The role may
// read the lake, write the compacted tables' folders and the compactions folder, delete in the
// compacted tables' folders, and nothing else of the bucket. Created by DdbLakeStack.

import { ArnFormat, Duration, RemovalPolicy, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

import {
  arnAsFound,
  athenaQueryState,
  grantAthenaQueries,
  objectsAsFound,
  queryResultsState,
  type AthenaAccess,
} from './athena-access';
import type { CompactionExport, CompactionStatement } from './inputs';
import { underPrefix } from './normalizer';
import { ATHENA_RESULTS_PREFIX } from './storage';

/** Where it runs (the workgroup, the database, the lake, the results), and what. */
export interface CompactionProps extends AthenaAccess {
  compaction: CompactionExport;
  /** EventBridge Scheduler expression, e.g. `cron(30 3 * * ? *)` (UTC). */
  schedule: string;
  logRetentionDays: number;
}

/** `s` with the characters an intrinsic function's string must escape escaped. */
function escapeIntrinsic(s: string): string {
  return s.replace(/[\\'{}]/g, (c) => `\\${c}`);
}

/**
 * `template` as a `States.Format` call: each `{{name}}` becomes the value at `paths[name]`,
 * as a SQL string literal when `quoted` (the values are dates, the run id and times, which
 * hold no quote). SQL goes on one line: a statement holds no comment, so nothing changes.
 */
export function statesFormat(template: string, paths: Record<string, string>, quoted: boolean): string {
  if (quoted && template.includes('--')) throw new Error(`a compaction statement holds a comment: ${template}`);
  const text = quoted ? template.replace(/\s*\n\s*/g, ' ') : template;
  const args: string[] = [];
  let out = '';
  let last = 0;
  for (const m of text.matchAll(/\{\{(\w+)\}\}/g)) {
    const path = paths[m[1]];
    if (!path) throw new Error(`no value for {{${m[1]}}} in ${template}`);
    out += escapeIntrinsic(text.slice(last, m.index)) + (quoted ? "\\'{}\\'" : '{}');
    args.push(path);
    last = m.index! + m[0].length;
  }
  out += escapeIntrinsic(text.slice(last));
  return `States.Format('${out}', ${args.join(', ')})`;
}

/** The one statement of `step`. */
function only(compaction: CompactionExport, step: CompactionStatement['step']): CompactionStatement {
  const found = compaction.statements.filter((s) => s.step === step);
  if (found.length !== 1) throw new Error(`ddb-lake sql export: expected one ${step} statement, found ${found.length}`);
  return found[0];
}

export class Compaction extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly role: iam.Role;
  readonly schedule: scheduler.Schedule;
  /** The ASL definition, as deployed (tokens unresolved). */
  readonly definition: Record<string, unknown>;

  constructor(scope: Construct, id: string, props: CompactionProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { compaction } = props;
    const history = compaction.statements.filter((s) => s.step === 'history');
    const states = compaction.statements.filter((s) => s.step === 'state');
    if (history.length === 0 || states.length === 0 || states[0].table !== 'changes_state') {
      throw new Error('ddb-lake sql export: the compaction needs history and state statements, changes_state first');
    }
    const compactedText = history.map((s) => s.table!.replace(/_compacted$/, ''));
    const parquetTables = [...history, ...states].map((s) => s.table!);
    const lake = props.lakeBucket.bucketName;
    // Named, so the role's policy can name its executions without a reference cycle.
    const machineName = `ddb-lake-compaction-${props.database}`.slice(0, 80);

    const plan = { through: '$.plan.through', compaction_id: '$.plan.compaction_id', cutoff: '$.plan.cutoff', started: '$.plan.started' };
    // A statement run in Athena, waited for; the query's id kept at `resultPath` (or dropped).
    const athena = (
      comment: string,
      s: CompactionStatement,
      paths: Record<string, string>,
      resultPath: string | null,
      next: string | undefined,
    ) =>
      athenaQueryState(
        props,
        stack.partition,
        `${comment} (${s.name} v${compaction.version})`,
        s.sql.includes('{{') ? { 'QueryString.$': statesFormat(s.sql, paths, true) } : { QueryString: s.sql.replace(/\s*\n\s*/g, ' ') },
        resultPath,
        next,
      );
    const results = (selector: Record<string, string>, resultPath: string, next: string, maxResults?: number) =>
      queryResultsState(stack.partition, selector, resultPath, next, maxResults);
    const cell = (column: number) => `$.ResultSet.Rows[1].Data[${column}].VarCharValue`;
    const name = (prefix: string, s: CompactionStatement) => `${prefix} ${s.table}`;

    // The batch's statements, one table after another.
    const batchStates: Record<string, unknown> = {
      'Header row?': {
        Type: 'Choice',
        Comment: "GetQueryResults gives the column names first: that row is not a batch",
        Choices: [{ Variable: '$.first_day', StringEquals: 'first_day', Next: 'Header row' }],
        Default: name('History', history[0]),
      },
      'Header row': { Type: 'Succeed' },
    };
    history.forEach((s, i) => {
      batchStates[name('History', s)] = athena(
        `The text rows of ${compactedText[i]} in the batch's days`,
        s,
        { compaction_id: '$.compaction_id', first_day: '$.first_day', last_day: '$.last_day' },
        null,
        i + 1 < history.length ? name('History', history[i + 1]) : undefined,
      );
    });

    const definition: Record<string, unknown> = {
      Comment: `ddb-lake compaction of ${props.database} (docs/compaction.md): statements v${compaction.version} of \`ddb-lake sql export\``,
      StartAt: 'Plan',
      States: {
        Plan: athena('The run: through, id, cutoff, start; the latest run', only(compaction, 'plan'), {}, '$.query', 'Read plan'),
        'Read plan': results(
          { 'through.$': cell(0), 'compaction_id.$': cell(1), 'cutoff.$': cell(2), 'started.$': cell(3), 'previous.$': cell(4) },
          '$.plan',
          'Compacted through a later day?',
        ),
        'Compacted through a later day?': {
          Type: 'Choice',
          Choices: [{ Variable: '$.plan.previous', StringGreaterThanPath: '$.plan.through', Next: 'Compacted through a later day' }],
          Default: 'Batches',
        },
        'Compacted through a later day': {
          Type: 'Fail',
          Error: 'CompactedThroughALaterDay',
          Cause: 'The lake is compacted through a later day than this run would fold (see the compactions table); nothing was written.',
        },
        Batches: athena('The days to fold, in batches', only(compaction, 'batches'), plan, '$.query', 'Read batches'),
        'Read batches': results({ 'rows.$': '$.ResultSet.Rows' }, '$.batches', 'Anything to fold?', 1000),
        'Anything to fold?': {
          Type: 'Choice',
          Choices: [{ Variable: '$.batches.rows[1]', IsPresent: true, Next: 'History' }],
          Default: 'Nothing to fold',
        },
        'Nothing to fold': { Type: 'Succeed', Comment: 'No text objects in the days up to through' },
        History: {
          Type: 'Map',
          Comment: `One batch (at most ${compaction.batch_days} days, the partitions one INSERT INTO may write) at a time`,
          ItemsPath: '$.batches.rows',
          ItemSelector: {
            'first_day.$': '$$.Map.Item.Value.Data[0].VarCharValue',
            'last_day.$': '$$.Map.Item.Value.Data[1].VarCharValue',
            'compaction_id.$': '$.plan.compaction_id',
          },
          MaxConcurrency: 1,
          ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'Header row?', States: batchStates },
          ResultPath: null,
          Next: name('State', states[0]),
        },
        ...Object.fromEntries(
          states.map((s, i) => [
            name('State', s),
            athena(
              `The rows of every item at the end of through, into ${s.table}`,
              s,
              plan,
              null,
              i + 1 < states.length ? name('State', states[i + 1]) : 'Row',
            ),
          ]),
        ),
        Row: athena("The run's compactions row", only(compaction, 'row'), plan, '$.query', 'Read row'),
        'Read row': results({ 'object.$': cell(0) }, '$.row', 'Put row'),
        'Put row': {
          Type: 'Task',
          Comment: 'From here on the run counts: the views read its history and its state',
          Resource: `arn:${stack.partition}:states:::aws-sdk:s3:putObject`,
          Parameters: {
            Bucket: lake,
            'Key.$': statesFormat(underPrefix(props.prefix, compaction.marker_key), plan, false),
            'Body.$': '$.row.object',
          },
          ResultPath: null,
          Next: 'Obsolete',
        },
        Obsolete: athena('The keys the run made redundant', only(compaction, 'obsolete'), plan, '$.obsolete', 'Remove'),
        Remove: {
          Type: 'Map',
          Comment: "Delete them, 1,000 keys per child, read from the Obsolete query's result CSV",
          ItemReader: {
            Resource: `arn:${stack.partition}:states:::s3:getObject`,
            ReaderConfig: { InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW' },
            Parameters: {
              Bucket: props.resultsBucket.bucketName,
              'Key.$': `States.Format('${escapeIntrinsic(ATHENA_RESULTS_PREFIX)}{}.csv', $.obsolete.id)`,
            },
          },
          ItemBatcher: { MaxItemsPerBatch: 1000 },
          MaxConcurrency: 10,
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
            StartAt: 'Delete',
            States: {
              Delete: {
                Type: 'Task',
                Resource: `arn:${stack.partition}:states:::aws-sdk:s3:deleteObjects`,
                Parameters: { Bucket: lake, Delete: { 'Objects.$': '$.Items', Quiet: true } },
                Retry: [{ ErrorEquals: ['S3.S3Exception', 'S3.SdkClientException'], IntervalSeconds: 5, MaxAttempts: 3, BackoffRate: 2 }],
                ResultPath: '$.deleted',
                Next: 'All deleted?',
              },
              'All deleted?': {
                Type: 'Choice',
                Choices: [{ Variable: '$.deleted.Errors[0]', IsPresent: true, Next: 'Not all deleted' }],
                Default: 'Deleted',
              },
              'Not all deleted': {
                Type: 'Fail',
                Error: 'NotAllDeleted',
                Cause: 'S3 refused to delete some keys (see the Delete step\'s Errors); they are read as before, and the next run removes them.',
              },
              Deleted: { Type: 'Succeed' },
            },
          },
          ResultPath: null,
          End: true,
        },
      },
    };
    this.definition = definition;

    const machineLogs = new logs.LogGroup(this, 'StateMachineLogGroup', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'ddb-lake compaction: run its statements in Athena, read the lake, write and delete in the compacted folders',
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: machineName,
      comment: 'ddb-lake compaction: folds the text of closed days into Parquet history and state (input ignored)',
      definitionBody: sfn.DefinitionBody.fromString(stack.toJsonString(definition)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      role: this.role,
      timeout: Duration.hours(23),
      logs: { destination: machineLogs, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    this.grant(props, compactedText, parquetTables, machineName);

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `ddb-lake: compact ${props.database} (the days up to the day before yesterday, UTC)`,
      schedule: scheduler.ScheduleExpression.expression(props.schedule, TimeZone.ETC_UTC),
      target: new targets.StepFunctionsStartExecution(this.stateMachine, { input: scheduler.ScheduleTargetInput.fromObject({}) }),
    });
  }

  private grant(props: CompactionProps, compactedText: string[], parquetTables: string[], machineName: string): void {
    const stack = Stack.of(this);
    const role = this.role;
    const folder = (name: string) => `${underPrefix(props.prefix, name)}/*`;
    const arn = (service: string, resource: string, resourceName?: string) => stack.formatArn({ service, resource, resourceName });
    grantAthenaQueries(role, props, [
      'athena:StartQueryExecution',
      'athena:GetQueryExecution',
      'athena:GetQueryResults',
      'athena:StopQueryExecution',
      'athena:GetWorkGroup',
    ]);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'AddCompactedPartitions',
        actions: ['glue:BatchCreatePartition', 'glue:CreatePartition'],
        resources: parquetTables.map((t) => arn('glue', 'table', `${props.database}/${t}`)),
      }),
    );
    const written = [...parquetTables, 'compactions'].map(folder);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteCompacted',
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: written.map((f) => props.lakeBucket.arnForObjects(f)),
      }),
    );
    const removed = [...compactedText, ...parquetTables].map(folder);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RemoveFolded',
        actions: ['s3:DeleteObject'],
        resources: removed.map((f) => props.lakeBucket.arnForObjects(f)),
      }),
    );
    const colon = (resource: string, resourceName: string) =>
      stack.formatArn({ service: 'states', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const machineArn = colon('stateMachine', machineName);
    // The children of a Distributed Map run: `execution:<machine>/<map run>:<child>`.
    const executions = [colon('execution', `${machineName}:*`), colon('execution', `${machineName}/*`)];
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'RunRemoveChildren', actions: ['states:StartExecution'], resources: [machineArn] }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WatchRemoveChildren',
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: executions,
      }),
    );

    // Each wildcard of its own, acknowledged with its reason.
    const findings = Validations.of(role);
    const reasons: [string, string][] = [
      ...written.map((f): [string, string] => [objectsAsFound(props.lakeBucket, f), `Athena names the objects an INSERT INTO writes under ${f.slice(0, -2)}/; the run's compactions row goes under compactions/.`]),
      ...removed.map((f): [string, string] => [objectsAsFound(props.lakeBucket, f), `The run removes what it folded or made redundant under ${f.slice(0, -2)}/, by the keys Athena lists.`]),
    ];
    for (const [resource, reason] of reasons) findings.acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
    for (const children of [`${machineName}:*`, `${machineName}/*`]) {
      findings.acknowledge({
        id: `AwsSolutions-IAM5[Resource::${arnAsFound(stack, 'states', `execution:${children}`)}]`,
        reason: "The Distributed Map describes and stops its own child executions, whose names Step Functions chooses at run time; this state machine's executions only.",
      });
    }
    findings.acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Log delivery (logs:CreateLogDelivery and others) and X-Ray (tracing) have no resource-level permissions; none of them reads data.',
    });
  }
}
