// What tells an engineer the pipeline is unwell before an analyst does: alarms on the
// stream's iterator age, function errors and throttles, messages in the on-failure queue,
// the function's own EMF metrics (quarantined records, rejected cells, failed records), failed
// backfill executions and failed or timed-out compaction runs, all sent to one
// encrypted SNS topic (optionally with an e-mail subscription); and a dashboard with
// throughput, lag, errors and bytes written. Created by DdbLakeStack.

import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface LakeMonitoringProps {
  function: lambda.IFunction;
  onFailureQueue: sqs.IQueue;
  /** The backfill state machine. */
  backfill: sfn.IStateMachine;
  /** The compaction state machine. */
  compaction: sfn.IStateMachine;
  /** With the canary on: minutes without a heartbeat row in the lake before its alarm fires. */
  canaryAlarmMinutes?: number;
  /** Namespace of the function's EMF metrics (dimension FunctionName). */
  metricsNamespace: string;
  /** Declared tables and the two built-in ones, for the rows-per-table graph. */
  tables: string[];
  iteratorAgeAlarmSeconds: number;
  alarmEmail?: string;
  /** The data key (KMS mode); otherwise the topic gets its own key. */
  key?: kms.Key;
}

/** The five-minute period every alarm evaluates. */
const PERIOD = Duration.minutes(5);

export class LakeMonitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: Record<string, cloudwatch.Alarm>;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: LakeMonitoringProps) {
    super(scope, id);
    const fn = props.function;

    // CloudWatch can publish to an encrypted topic only with a customer managed key whose
    // policy lets it use the key (the AWS managed SNS key does not).
    const topicKey =
      props.key ??
      new kms.Key(this, 'TopicKey', { description: 'ddb-lake: alarm topic', enableKeyRotation: true });
    // Only on behalf of this account's alarms (the confused-deputy conditions).
    const stack = Stack.of(this);
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*` },
        },
      }),
    );
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'ddb-lake alarms',
      masterKey: topicKey,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const emf = (metricName: string, statistic = 'Sum', extra: Record<string, string> = {}) =>
      new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName,
        dimensionsMap: { FunctionName: fn.functionName, ...extra },
        statistic,
        period: PERIOD,
      });

    const iteratorAge = fn.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) });
    const errors = fn.metricErrors({ period: PERIOD, statistic: 'Sum' });
    const throttles = fn.metricThrottles({ period: PERIOD, statistic: 'Sum' });
    const queued = props.onFailureQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' });
    const quarantined = emf('RecordsQuarantined');
    const rejected = emf('CellsRejected');
    const failed = emf('RecordsFailed');

    const alarm = (
      name: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      evaluationPeriods: number,
      description: string,
    ) => {
      const a = new cloudwatch.Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods,
        datapointsToAlarm: evaluationPeriods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(new actions.SnsAction(this.topic));
      a.addOkAction(new actions.SnsAction(this.topic));
      return a;
    };

    this.alarms = {
      iteratorAge: alarm(
        'IteratorAgeAlarm',
        iteratorAge,
        props.iteratorAgeAlarmSeconds * 1000,
        5,
        `The oldest unprocessed stream record is older than ${props.iteratorAgeAlarmSeconds} s for 5 minutes: the lake falls behind the table (stream records expire after 24 h).`,
      ),
      errors: alarm(
        'ErrorsAlarm',
        errors,
        0,
        1,
        'The normalizer failed an invocation (cold-start configuration error, crash or timeout); Lambda retries the batch.',
      ),
      throttles: alarm(
        'ThrottlesAlarm',
        throttles,
        0,
        3,
        'The normalizer was throttled in three consecutive 5-minute periods: raise its concurrency or the account limit.',
      ),
      onFailureQueue: alarm(
        'OnFailureQueueAlarm',
        queued,
        0,
        1,
        'Lambda gave up on stream records and sent their position to the on-failure queue: replay them with `ddb-lake replay --after` before the stream trims them (24 h).',
      ),
      quarantined: alarm(
        'QuarantinedRecordsAlarm',
        quarantined,
        0,
        1,
        'Records were quarantined (could not be normalized); the reasons are in the _quarantine folder of the lake.',
      ),
      rejected: alarm(
        'CellsRejectedAlarm',
        rejected,
        0,
        1,
        'Declared-table cells were written as NULL because their values do not fit the column types; where and why is in the _rejects table (question rejected_cells).',
      ),
      failed: alarm(
        'FailedRecordsAlarm',
        failed,
        0,
        3,
        'Records could not be written to S3 for 15 minutes (the function reports them for redelivery); check the function log.',
      ),
      backfillFailed: alarm(
        'BackfillFailedAlarm',
        props.backfill.metricFailed({ period: PERIOD, statistic: 'Sum' }),
        0,
        1,
        'A backfill execution failed: its error names the export or the data files without their snapshots row (the Map Run lists the failed children); the views do not use that snapshot until an execution with the same input succeeds.',
      ),
      compactionFailed: alarm(
        'CompactionFailedAlarm',
        new cloudwatch.MathExpression({
          expression: 'failed + timedOut',
          usingMetrics: {
            failed: props.compaction.metricFailed({ period: PERIOD, statistic: 'Sum' }),
            timedOut: props.compaction.metricTimedOut({ period: PERIOD, statistic: 'Sum' }),
          },
          period: PERIOD,
          label: 'compaction executions failed or timed out',
        }),
        0,
        1,
        "A compaction run failed or timed out: the failed step names the statement and Athena's reason. Answers stay as before (a run counts only once its compactions row is written); the next scheduled run starts over, or start one by hand once the cause is fixed.",
      ),
    };

    if (props.canaryAlarmMinutes) {
      // No heartbeat row for that long: missing data counts as breaching (nothing arrived).
      const periods = props.canaryAlarmMinutes / 5;
      const canary = new cloudwatch.Alarm(this, 'CanaryAlarm', {
        metric: emf('CanaryRecords', 'Sum'),
        threshold: 1,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription: `No heartbeat of the canary reached the lake for ${props.canaryAlarmMinutes} minutes: the table, its stream, the mapping, the function or S3 is stopped somewhere (see docs/operations.md, "The canary").`,
      });
      canary.addAlarmAction(new actions.SnsAction(this.topic));
      canary.addOkAction(new actions.SnsAction(this.topic));
      this.alarms.canary = canary;
    }

    const rowsByTable = props.tables.map((t) => emf('RowsOut', 'Sum', { Table: t }).with({ label: t }));
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Throughput: stream records in per 5 minutes',
            left: [emf('RecordsIn').with({ label: 'records in' })],
            right: [fn.metricInvocations({ period: PERIOD }).with({ label: 'invocations' })],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Rows written per table',
            left: rowsByTable,
            stacked: true,
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Lag (ms): iterator age and stream lag',
            left: [iteratorAge.with({ label: 'IteratorAge (max)' }), emf('StreamLagMs', 'Maximum').with({ label: 'StreamLagMs (max)' })],
            leftAnnotations: [{ value: props.iteratorAgeAlarmSeconds * 1000, label: 'alarm' }],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Errors',
            left: [
              errors.with({ label: 'function errors' }),
              throttles.with({ label: 'throttles' }),
              failed.with({ label: 'records failed' }),
              quarantined.with({ label: 'records quarantined' }),
              rejected.with({ label: 'cells rejected' }),
              queued.with({ label: 'on-failure queue messages' }),
            ],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Bytes and objects written to S3',
            left: [emf('BytesWritten').with({ label: 'bytes (gzip)' })],
            right: [emf('ObjectsWritten').with({ label: 'objects' })],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Duration (ms)',
            left: [
              fn.metricDuration({ period: PERIOD, statistic: 'p50' }).with({ label: 'p50' }),
              fn.metricDuration({ period: PERIOD, statistic: 'p99' }).with({ label: 'p99' }),
              fn.metricDuration({ period: PERIOD, statistic: 'Maximum' }).with({ label: 'max' }),
            ],
            width: 12,
          }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24 })],
      ],
    });
  }
}
