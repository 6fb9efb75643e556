// Answers as metrics: every question whose header says `-- metric:` is run in Athena on its
// schedule (EventBridge Scheduler → a Step Functions state machine per question) and each
// row of its answer is put as a CloudWatch metric in the stack's namespace, its dimensions
// from the row. Alarms on them are declared in the config (`metricAlarms`) and go to the
// alarm topic; a publisher that fails raises an alarm too. Created by DdbLakeStack.
//
//   Answer (the question at its defaults, the dimensions' columns then the value's; Athena,
//   waited for) → Rows (GetQueryResults, at most 1,000) → Put (a Map over the rows:
//   PutMetricData, the value with States.StringToJson, the dimensions as the row gives them)

import { Duration, RemovalPolicy, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

import { athenaQueryState, grantAthenaQueries, queryResultsState, type AthenaAccess } from './athena-access';
import type { MetricAlarmConfig } from './config';
import type { LakeQuery } from './inputs';

/** Where the questions run (the workgroup, the database, the lake, the results), and which. */
export interface AnswerMetricsProps extends AthenaAccess {
  queries: LakeQuery[];
  namespace: string;
  alarms: MetricAlarmConfig[];
  topic: sns.ITopic;
  logRetentionDays: number;
}

/** The ASL of one published question. */
export function publisherDefinition(q: LakeQuery, namespace: string, workGroup: string, database: string, partition: string): any {
  const m = q.metric!;
  const n = m.dimensions.length;
  return {
    Comment: `ddb-lake: publish ${q.name} v${q.version} as the CloudWatch metric ${namespace}/${m.name}`,
    StartAt: 'Answer',
    States: {
      Answer: athenaQueryState(
        { workGroupName: workGroup, database },
        partition,
        `${q.question} (the dimensions' columns, then the value's)`,
        { QueryString: m.sql },
        '$.query',
        'Rows',
      ),
      Rows: queryResultsState(partition, { 'rows.$': '$.ResultSet.Rows' }, '$.answer', 'Put', 1000),
      Put: {
        Type: 'Map',
        Comment: 'One PutMetricData per row of the answer',
        ItemsPath: '$.answer.rows',
        MaxConcurrency: 10,
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'Header row?',
          States: {
            'Header row?': {
              Type: 'Choice',
              Comment: 'GetQueryResults gives the column names first',
              Choices: [{ Variable: `$.Data[${n}].VarCharValue`, StringEquals: m.value, Next: 'Header row' }],
              Default: 'Put metric',
            },
            'Header row': { Type: 'Succeed' },
            'Put metric': {
              Type: 'Task',
              Resource: `arn:${partition}:states:::aws-sdk:cloudwatch:putMetricData`,
              Parameters: {
                Namespace: namespace,
                MetricData: [
                  {
                    MetricName: m.name,
                    'Value.$': `States.StringToJson($.Data[${n}].VarCharValue)`,
                    Unit: 'None',
                    Dimensions: m.dimensions.map((d, i) => ({ Name: d, 'Value.$': `$.Data[${i}].VarCharValue` })),
                  },
                ],
              },
              Retry: [{ ErrorEquals: ['CloudWatch.CloudWatchException', 'States.Timeout'], IntervalSeconds: 5, MaxAttempts: 3, BackoffRate: 2 }],
              ResultPath: null,
              End: true,
            },
          },
        },
        ResultPath: null,
        End: true,
      },
    },
  };
}

export class AnswerMetrics extends Construct {
  readonly role: iam.Role;
  readonly stateMachines: Record<string, sfn.StateMachine> = {};
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AnswerMetricsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const published = props.queries.filter((q) => q.kind === 'question' && q.metric);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'ddb-lake answers as metrics: run the published questions in Athena, put their rows as metrics',
    });
    this.grant(props);
    const logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    for (const q of published) {
      const machine = new sfn.StateMachine(this, `Publish-${q.name}`, {
        comment: `ddb-lake: ${q.name} → CloudWatch ${props.namespace}/${q.metric!.name}`,
        definitionBody: sfn.DefinitionBody.fromString(
          stack.toJsonString(publisherDefinition(q, props.namespace, props.workGroupName, props.database, stack.partition)),
        ),
        stateMachineType: sfn.StateMachineType.STANDARD,
        role: this.role,
        timeout: Duration.minutes(30),
        logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
        tracingEnabled: true,
      });
      this.stateMachines[q.name] = machine;
      new scheduler.Schedule(this, `Schedule-${q.name}`, {
        description: `ddb-lake: publish ${q.name} as ${props.namespace}/${q.metric!.name}`,
        schedule: scheduler.ScheduleExpression.expression(q.metric!.schedule, TimeZone.ETC_UTC),
        target: new targets.StepFunctionsStartExecution(machine, { input: scheduler.ScheduleTargetInput.fromObject({}) }),
      });
      const failed = new cloudwatch.Alarm(this, `PublishFailedAlarm-${q.name}`, {
        metric: machine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `Publishing ${q.name} as a metric failed: the execution names the step and Athena's or CloudWatch's reason; the metric has a gap until the next run.`,
      });
      this.alarms.push(failed);
    }

    // The alarms the config declares on published questions.
    props.alarms.forEach((a, i) => {
      const q = published.find((p) => p.name === a.question);
      if (!q) {
        throw new Error(
          `metricAlarms[${i}]: ${a.question} is not published as a metric; these are: ${published.map((p) => p.name).join(', ') || 'none'} ` +
            '(a question is published when its header has `-- metric:`)',
        );
      }
      const m = q.metric!;
      const unknown = Object.keys(a.dimensions ?? {}).filter((d) => !m.dimensions.includes(d));
      if (unknown.length > 0) {
        throw new Error(`metricAlarms[${i}]: ${a.question} has no dimension ${unknown.join(', ')}; it has: ${m.dimensions.join(', ') || 'none'}`);
      }
      const period = Duration.hours(1);
      const metric: cloudwatch.IMetric = a.dimensions
        ? new cloudwatch.Metric({ namespace: props.namespace, metricName: m.name, dimensionsMap: a.dimensions, statistic: 'Maximum', period })
        : new cloudwatch.MathExpression({
            // Any value of the dimensions: the largest across them (Metrics Insights).
            expression: `SELECT MAX(${m.name}) FROM SCHEMA("${props.namespace}"${m.dimensions.map((d) => `, ${d}`).join('')})`,
            period,
            label: `${m.name} (largest)`,
          });
      const where = a.dimensions ? ` with ${Object.entries(a.dimensions).map(([k, v]) => `${k} = ${v}`).join(', ')}` : '';
      const alarm = new cloudwatch.Alarm(this, `MetricAlarm${i}-${q.name}`, {
        metric,
        threshold: a.threshold,
        evaluationPeriods: a.evaluationPeriods ?? 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `${q.question} — ${m.name}${where} is above ${a.threshold} (question ${q.name}; metricAlarms[${i}] of the CDK config).`,
      });
      this.alarms.push(alarm);
    });
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(new actions.SnsAction(props.topic));
      alarm.addOkAction(new actions.SnsAction(props.topic));
    }
  }

  private grant(props: AnswerMetricsProps): void {
    const role = this.role;
    grantAthenaQueries(role, props, ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution']);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PutMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': props.namespace } },
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "cloudwatch:PutMetricData has no resource-level form (it is limited to the stack's namespace by a condition); log delivery and X-Ray neither.",
    });
  }
}
