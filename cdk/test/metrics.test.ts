// Answers as metrics: every question whose header says `-- metric:` (recorded_errors ships so)
// gets a publisher state machine on its schedule; the publisher's mapping from Athena's rows to
// PutMetricData is evaluated here on rows shaped as GetQueryResults gives them, and the
// requests it makes are sent to a local moto_server's CloudWatch and read back; the alarms
// the config declares go to the alarm topic; a wrong declaration fails synth naming the fix.

import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { logicalIdOf, resourcesOf, startMoto, synth } from './helpers';

const { stack, template, inputs } = synth();
const logicalId = (c: { node: { defaultChild?: unknown } }) => logicalIdOf(stack, c);
const published = inputs.sql.queries.filter((q) => q.metric);
const NAMESPACE = 'DdbLake';

/** The deployed definition of a construct's state machine, tokens shown as `<token>`. */
function definitionOf(machine: any): any {
  const body = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(machine)].Properties.DefinitionString;
  const text = typeof body === 'string' ? body : body['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : '<token>')).join('');
  return JSON.parse(text);
}

/** A JSONPath of the form `$.A[i].B` (or `States.StringToJson(…)` of one) evaluated on `input`. */
function evaluate(expression: string, input: any): any {
  const json = /^States\.StringToJson\((.*)\)$/.exec(expression);
  if (json) return JSON.parse(evaluate(json[1], input));
  assert.match(expression, /^\$(\.[A-Za-z]+(\[\d+\])?)+$/, expression);
  let at = input;
  for (const [, name, index] of expression.slice(1).matchAll(/\.([A-Za-z]+)(?:\[(\d+)\])?/g)) {
    at = at?.[name];
    if (index !== undefined) at = at?.[Number(index)];
  }
  assert.ok(at !== undefined, `${expression} finds nothing in ${JSON.stringify(input)}`);
  return at;
}

/** `parameters` with every `"key.$": path` replaced by `"key": value`, recursively. */
function resolve(parameters: any, input: any): any {
  if (Array.isArray(parameters)) return parameters.map((p) => resolve(p, input));
  if (parameters === null || typeof parameters !== 'object') return parameters;
  return Object.fromEntries(
    Object.entries(parameters).map(([k, v]) => (k.endsWith('.$') ? [k.slice(0, -2), evaluate(v as string, input)] : [k, resolve(v, input)])),
  );
}

/** What the publisher's Map does with one row: nothing for the header row, else PutMetricData's input. */
function putFor(definition: any, row: any): any | undefined {
  const states = definition.States.Put.ItemProcessor.States;
  const choice = states['Header row?'].Choices[0];
  if (evaluate(choice.Variable, row) === choice.StringEquals) return undefined;
  return resolve(states['Put metric'].Parameters, row);
}

describe('answers as metrics', () => {
  it('publishes recorded_errors, by error code, every hour', () => {
    assert.deepEqual(
      published.map((q) => [q.name, q.metric!.name, q.metric!.value, q.metric!.dimensions, q.metric!.schedule]),
      [['recorded_errors', 'RecordedErrors', 'items', ['error_code'], 'rate(1 hour)']],
    );
    const [[, schedule]] = resourcesOf(template, 'AWS::Scheduler::Schedule').filter(([, s]) => s.Properties.ScheduleExpression === 'rate(1 hour)');
    assert.deepEqual(schedule.Properties.Target.Arn, { Ref: logicalId(stack.metrics.stateMachines.recorded_errors) });
  });

  it("runs the exported metric statement and puts rows in the stack's namespace only", () => {
    const definition = definitionOf(stack.metrics.stateMachines.recorded_errors);
    const q = published[0];
    assert.equal(definition.States.Answer.Parameters.QueryString, q.metric!.sql);
    assert.ok(q.metric!.sql.includes(q.sql), 'it wraps the question at its defaults');
    assert.equal(definition.States.Answer.Parameters.QueryExecutionContext.Database, inputs.schema.DatabaseName);
    const roleId = logicalId(stack.metrics.role);
    const statements = resourcesOf(template, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const put = statements.find((s: any) => s.Sid === 'PutMetrics');
    assert.deepEqual(put.Condition, { StringEquals: { 'cloudwatch:namespace': NAMESPACE } });
    assert.ok(!statements.some((s: any) => [s.Action].flat().some((a: string) => a === 's3:PutObject') && JSON.stringify(s.Resource).includes('StorageLakeBucket')));
  });

  it('raises an alarm into the topic when publishing fails', () => {
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const failed = alarms.find((a) => a.MetricName === 'ExecutionsFailed' && JSON.stringify(a.Dimensions).includes(logicalId(stack.metrics.stateMachines.recorded_errors)));
    assert.ok(failed, 'an alarm on the publisher');
    assert.deepEqual(failed.AlarmActions, [{ Ref: logicalId(stack.monitoring.topic) }]);
  });

  it('declares alarms on published questions from the config, and refuses the wrong ones', () => {
    const s = synth({
      metricAlarms: JSON.stringify([
        { question: 'recorded_errors', threshold: 50, dimensions: { error_code: 'AUTH_EXPIRED' } },
        { question: 'recorded_errors', threshold: 200, evaluationPeriods: 2 },
      ]),
    });
    const alarms = resourcesOf(s.template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const one = alarms.find((a) => a.MetricName === 'RecordedErrors');
    assert.ok(one);
    assert.equal(one.Namespace, NAMESPACE);
    assert.equal(one.Threshold, 50);
    assert.deepEqual(one.Dimensions, [{ Name: 'error_code', Value: 'AUTH_EXPIRED' }]);
    const any = alarms.find((a) => a.Threshold === 200);
    assert.equal(any.EvaluationPeriods, 2);
    assert.equal(any.Metrics[0].Expression, `SELECT MAX(RecordedErrors) FROM SCHEMA("${NAMESPACE}", error_code)`);
    for (const a of [one, any]) assert.deepEqual(a.AlarmActions, [{ Ref: logicalIdOf(s.stack, s.stack.monitoring.topic) }]);
    assert.throws(() => synth({ metricAlarms: '[{"question": "popular_settings", "threshold": 1}]' }), /popular_settings is not published as a metric; these are: recorded_errors/);
    assert.throws(() => synth({ metricAlarms: '[{"question": "recorded_errors", "threshold": 1, "dimensions": {"tenant": "x"}}]' }), /has no dimension tenant; it has: error_code/);
    assert.throws(() => synth({ metricAlarms: '{"question": "recorded_errors"}' }), /context metricAlarms=.*expected a JSON array/);
  });
});


describe("the publisher's PutMetricData against moto's CloudWatch", () => {
  let moto: { endpoint: string; stop: () => void };
  before(async () => {
    moto = await startMoto();
  });
  after(() => moto?.stop());

  it('puts one datum per answer row, by error code, and nothing for the header row', async () => {
    const cw = await import('@aws-sdk/client-cloudwatch');
    const client = new cw.CloudWatchClient({
      endpoint: moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    const definition = definitionOf(stack.metrics.stateMachines.recorded_errors);
    // GetQueryResults' rows for the metric statement: the header, then error_code, items (double).
    const answer = [
      ['error_code', 'items'],
      ['RATE_LIMITED', '167.0'],
      ['AUTH_EXPIRED', '108.0'],
      ['TIMEOUT', '8.2E1'],
    ];
    const rows = answer.map((r) => ({ Data: r.map((v) => ({ VarCharValue: v })) }));
    const requests = rows.map((r) => putFor(definition, r)).filter((r) => r !== undefined);
    assert.equal(requests.length, 3, 'the header row puts nothing');
    for (const request of requests) await client.send(new cw.PutMetricDataCommand(request));

    const { Metrics = [] } = await client.send(new cw.ListMetricsCommand({ Namespace: NAMESPACE, MetricName: 'RecordedErrors' }));
    assert.deepEqual(
      Metrics.map((m) => m.Dimensions!.map((d) => `${d.Name}=${d.Value}`).join()).sort(),
      ['error_code=AUTH_EXPIRED', 'error_code=RATE_LIMITED', 'error_code=TIMEOUT'],
    );
    const now = new Date();
    for (const [code, value] of [['RATE_LIMITED', 167], ['AUTH_EXPIRED', 108], ['TIMEOUT', 82]] as const) {
      const stats = await client.send(
        new cw.GetMetricStatisticsCommand({
          Namespace: NAMESPACE,
          MetricName: 'RecordedErrors',
          Dimensions: [{ Name: 'error_code', Value: code }],
          StartTime: new Date(now.getTime() - 3600_000),
          EndTime: new Date(now.getTime() + 60_000),
          Period: 3600,
          Statistics: ['Maximum'],
        }),
      );
      assert.deepEqual(stats.Datapoints?.map((d) => d.Maximum), [value], code);
    }
  });
});
