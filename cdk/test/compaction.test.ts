// The compaction state machine, asserted on the synthesized template: every Athena step runs
// exactly the statement `ddb-lake sql export` gives (its States.Format evaluated here with the
// export's example values), in run order, batches one at a time; the run's compactions row
// goes where the lake's readers find it; the schedule; the role may write and delete only in
// the compacted tables' folders; cdk-nag is clean (pipeline.test.ts runs it on the same app).

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DEFAULTS } from '../lib/config';
import type { CompactionStatement } from '../lib/inputs';
import { assertNagClean, logicalIdOf, resourcesOf, synth } from './helpers';

const { app, stack, template, inputs } = synth();
const compaction = inputs.sql.compaction;
const logicalId = (c: { node: { defaultChild?: unknown } }) => logicalIdOf(stack, c);
const examples: Record<string, string> = Object.fromEntries(compaction.params.map((p) => [p.name, p.default]));

/** The deployed definition, each token in it shown as `<token>`. */
function deployedDefinition(): any {
  const machine = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(stack.compaction.stateMachine)];
  const body = machine.Properties.DefinitionString;
  const text = typeof body === 'string' ? body : body['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : '<token>')).join('');
  return JSON.parse(text);
}

/** A `States.Format('…', $.a, $.b)` call evaluated, each path's last name given its example value. */
function evaluateFormat(expression: string): string {
  const m = /^States\.Format\('((?:[^'\\]|\\.)*)', (.*)\)$/s.exec(expression);
  assert.ok(m, `not a States.Format call: ${expression}`);
  const args = m[2].split(', ').map((path) => {
    assert.match(path, /^\$(\.[a-z_]+)+$/, 'a value comes from the state, not from a literal');
    const value = examples[path.split('.').pop()!];
    assert.ok(value !== undefined, `no example for ${path}`);
    return value;
  });
  let out = '';
  const template = m[1];
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c === '\\') out += template[++i];
    else if (c === '{' && template[i + 1] === '}') {
      assert.ok(args.length > 0, `more {} than values in ${expression}`);
      out += args.shift();
      i++;
    } else out += c;
  }
  assert.equal(args.length, 0, `values left over in ${expression}`);
  return out;
}

/** What Athena should get: the exported statement with the example values, on one line. */
function expected(s: CompactionStatement): string {
  return s.sql.replace(/\{\{(\w+)\}\}/g, (_, name: string) => `'${examples[name]}'`).replace(/\s*\n\s*/g, ' ');
}

/** Every Task state of the definition (nested Map processors included), with its name. */
function tasks(states: Record<string, any>): [string, any][] {
  return Object.entries(states).flatMap(([name, state]) =>
    state.Type === 'Map' ? [[name, state], ...tasks(state.ItemProcessor.States)] : state.Type === 'Task' ? [[name, state]] : [],
  ) as [string, any][];
}

const definition = deployedDefinition();
const athenaTasks = tasks(definition.States).filter(([, s]) => String(s.Resource).endsWith(':athena:startQueryExecution.sync'));

/** The statement an Athena step runs, from its comment `… (<name> v<version>)`. */
function statementOf(state: any): CompactionStatement {
  const m = /\((\w+) v(\d+)\)$/.exec(state.Comment);
  assert.ok(m, state.Comment);
  assert.equal(Number(m[2]), compaction.version);
  const s = compaction.statements.find((x) => x.name === m[1]);
  assert.ok(s, m[1]);
  return s;
}

describe('compaction state machine', () => {
  it('runs every exported statement exactly, once, in the stack database and workgroup', () => {
    assert.equal(athenaTasks.length, compaction.statements.length);
    const seen = new Set<string>();
    for (const [name, state] of athenaTasks) {
      const s = statementOf(state);
      seen.add(s.name);
      const query = state.Parameters['QueryString.$'] ? evaluateFormat(state.Parameters['QueryString.$']) : state.Parameters.QueryString;
      assert.equal(query, expected(s), name);
      assert.equal(state.Parameters.QueryExecutionContext.Database, inputs.schema.DatabaseName);
      assert.equal(state.Parameters.WorkGroup, '<token>');
      assert.ok(state.Retry.some((r: any) => r.ErrorEquals.includes('Athena.TooManyRequestsException')), name);
    }
    assert.deepEqual([...seen].sort(), compaction.statements.map((s) => s.name).sort());
  });

  it('goes plan, batches, history (a batch at a time), state (changes first), row, obsolete, remove', () => {
    const order: string[] = [];
    let at: string | undefined = definition.StartAt;
    while (at) {
      const state = definition.States[at];
      if (state.Type === 'Task' && String(state.Resource).includes('athena:startQueryExecution')) order.push(statementOf(state).step);
      if (state.Type === 'Map' && at === 'History') {
        order.push('history');
        assert.equal(state.MaxConcurrency, 1);
        assert.equal(state.ItemsPath, '$.batches.rows');
      }
      // At a choice, the way that goes on (not the one that ends the run).
      const goesOn = (next: string) => !['Fail', 'Succeed'].includes(definition.States[next].Type);
      at = state.Type === 'Choice' ? [...state.Choices.map((c: any) => c.Next), state.Default].find(goesOn) : state.Next;
    }
    assert.deepEqual(
      order.filter((s, i) => s !== order[i - 1]),
      ['plan', 'batches', 'history', 'state', 'row', 'obsolete'],
    );
    const batch = definition.States.History.ItemProcessor;
    const historyTables = tasks(batch.States).map(([, s]) => statementOf(s).table);
    assert.deepEqual(historyTables, compaction.statements.filter((s) => s.step === 'history').map((s) => s.table));
    assert.ok(Object.keys(definition.States).indexOf('State changes_state') < Object.keys(definition.States).indexOf('State attributes_state'));
    // A lake compacted through a later day fails the run before anything is written.
    const later = definition.States['Compacted through a later day?'];
    assert.deepEqual(later.Choices[0], { Variable: '$.plan.previous', StringGreaterThanPath: '$.plan.through', Next: 'Compacted through a later day' });
    assert.equal(definition.States['Compacted through a later day'].Type, 'Fail');
  });

  it("puts the run's compactions row where the lake's readers find it, from the row statement's answer", () => {
    const put = definition.States['Put row'];
    assert.match(put.Resource, /:aws-sdk:s3:putObject$/);
    assert.equal(put.Parameters.Bucket, '<token>');
    assert.equal(put.Parameters['Body.$'], '$.row.object');
    const key = evaluateFormat(put.Parameters['Key.$']);
    const prefix = inputs.schema.Lake.Prefix;
    assert.equal(key, `${prefix ? `${prefix}/` : ''}compactions/dt=${examples.through}/compaction_${examples.compaction_id}.tsv`);
    assert.equal(definition.States['Read row'].ResultSelector['object.$'], '$.ResultSet.Rows[1].Data[0].VarCharValue');
    const row = compaction.statements.find((s) => s.step === 'row')!;
    const header = compaction.marker_header.split('\t').map((c) => `'${c}'`).join(' || chr(9) || ');
    assert.ok(row.sql.startsWith(`SELECT ${header} || chr(10)`), row.sql);
  });

  it("removes the obsolete query's keys from the lake bucket, 1,000 per child, failing on any refusal", () => {
    const remove = definition.States.Remove;
    assert.equal(remove.ItemProcessor.ProcessorConfig.Mode, 'DISTRIBUTED');
    assert.deepEqual(remove.ItemReader.ReaderConfig, { InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW' });
    assert.equal(remove.ItemReader.Parameters['Key.$'], "States.Format('athena-results/{}.csv', $.obsolete.id)");
    assert.equal(remove.ItemBatcher.MaxItemsPerBatch, 1000);
    const del = remove.ItemProcessor.States.Delete;
    assert.match(del.Resource, /:aws-sdk:s3:deleteObjects$/);
    assert.deepEqual(del.Parameters.Delete, { 'Objects.$': '$.Items', Quiet: true });
    // The CSV's one column is named as DeleteObjects names a key.
    const obsolete = compaction.statements.find((s) => s.step === 'obsolete')!;
    assert.match(obsolete.sql, /^SELECT DISTINCT .* AS "Key"\n/);
    assert.equal(remove.ItemProcessor.States['All deleted?'].Choices[0].Next, 'Not all deleted');
  });

  it('runs on the schedule, in UTC, with an empty input', () => {
    const [[, schedule]] = resourcesOf(template, 'AWS::Scheduler::Schedule');
    assert.equal(schedule.Properties.ScheduleExpression, DEFAULTS.compactionSchedule);
    assert.equal(schedule.Properties.ScheduleExpressionTimezone, 'Etc/UTC');
    assert.deepEqual(schedule.Properties.Target.Arn, { Ref: logicalId(stack.compaction.stateMachine) });
    assert.equal(schedule.Properties.Target.Input, '{}');
    const machine = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(stack.compaction.stateMachine)].Properties;
    assert.equal(machine.StateMachineType, 'STANDARD');
    assert.equal(machine.TracingConfiguration.Enabled, true);
    assert.equal(machine.LoggingConfiguration.Level, 'ALL');
  });

  it('writes only the compacted tables and the compactions folder, deletes only what it folds', () => {
    const roleId = logicalId(stack.compaction.role);
    const statements = resourcesOf(template, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const lakeArn = { 'Fn::GetAtt': [logicalId(stack.storage.lakeBucket), 'Arn'] };
    const folders = (sid: string) => {
      const st = statements.find((s: any) => s.Sid === sid);
      assert.ok(st, sid);
      return (Array.isArray(st.Resource) ? st.Resource : [st.Resource]).map((r: any) => {
        assert.deepEqual(r['Fn::Join'][1][0], lakeArn, sid);
        return r['Fn::Join'][1][1];
      });
    };
    const prefix = inputs.schema.Lake.Prefix ? `/${inputs.schema.Lake.Prefix}` : '';
    const text = compaction.statements.filter((s) => s.step === 'history').map((s) => s.table!.replace(/_compacted$/, ''));
    const parquet = compaction.statements.filter((s) => s.step === 'history' || s.step === 'state').map((s) => s.table!);
    assert.deepEqual(folders('WriteCompacted').sort(), [...parquet, 'compactions'].map((t) => `${prefix}/${t}/*`).sort());
    assert.deepEqual(folders('RemoveFolded').sort(), [...text, ...parquet].map((t) => `${prefix}/${t}/*`).sort());
    assert.deepEqual(text, ['changes', 'attributes', 'sync_configs', 'field_mappings']);
    for (const st of statements.filter((s: any) => [statementActions(s)].flat().some((a: string) => a.startsWith('s3:')))) {
      assert.notEqual(st.Resource, '*', JSON.stringify(st));
    }
    const write = statements.filter((s: any) => statementActions(s).some((a: string) => ['s3:PutObject', 's3:DeleteObject'].includes(a)));
    assert.ok(!JSON.stringify(write).match(/_quarantine|snapshots|_rejects/), 'never the quarantine, snapshots or rejects');
  });

  it('is cdk-nag clean', () => {
    assertNagClean(app);
  });

  it('refuses a schedule that is not an EventBridge Scheduler expression, naming the fix', () => {
    assert.throws(() => synth({ compactionSchedule: 'daily' }), /compactionSchedule: "daily" is not an EventBridge Scheduler expression; use cron\(/);
    const hourly = synth({ compactionSchedule: 'rate(6 hours)' });
    assert.equal(resourcesOf(hourly.template, 'AWS::Scheduler::Schedule')[0][1].Properties.ScheduleExpression, 'rate(6 hours)');
  });
});

function statementActions(st: any): string[] {
  return Array.isArray(st.Action) ? st.Action : [st.Action];
}
