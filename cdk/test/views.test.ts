// The views at deploy: the custom resource carries every view statement of `ddb-lake sql
// export`, in order, and runs after the catalog; its handler (lambda/create-views), run here
// against a local moto_server's Athena, submits exactly those statements, one after another,
// in the stack's workgroup and database, and again on an update; nothing on a delete.

import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { logicalIdOf, resourcesOf, startMoto, synth } from './helpers';

const { stack, template, inputs } = synth();
const logicalId = (c: { node: { defaultChild?: unknown } }) => logicalIdOf(stack, c);
const views = inputs.sql.queries.filter((q) => q.kind === 'view');

describe('views at deploy', () => {
  const [[resourceId, resource]] = resourcesOf(template, 'Custom::DdbLakeViews');

  it('carries every exported view statement, in order, for the stack database and workgroup', () => {
    assert.deepEqual(
      resource.Properties.Views,
      views.map((v) => ({ Name: v.name, Version: String(v.version), Sql: v.sql })),
    );
    assert.ok(views.length >= 5 && views.every((v) => v.sql.startsWith('CREATE OR REPLACE VIEW ')));
    assert.equal(resource.Properties.Database, inputs.schema.DatabaseName);
    assert.deepEqual(resource.Properties.WorkGroup, { Ref: stack.getLogicalId(stack.catalog.workGroup) });
  });

  it('runs after the Glue tables and the workgroup, and before the compaction', () => {
    const after = new Set<string>(resource.DependsOn);
    for (const t of stack.catalog.tables) assert.ok(after.has(logicalId({ node: { defaultChild: t } })), 'a Glue table');
    assert.ok(after.has(logicalId({ node: { defaultChild: stack.catalog.workGroup } })), 'the workgroup');
    const machine = template.findResources('AWS::StepFunctions::StateMachine')[logicalId(stack.compaction.stateMachine)];
    assert.ok(machine.DependsOn.includes(resourceId), 'the compaction reads the views');
  });

  it("lets the handler run statements in the stack's workgroup and write views of its database only", () => {
    const roleId = logicalId(stack.views.role);
    const statements = resourcesOf(template, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const sids = statements.map((s: any) => s.Sid).sort();
    assert.deepEqual(sids, ['QueryResults', 'QueryResultsBucket', 'RunViewStatements', 'WriteOwnLogs', 'WriteViews']);
    const glue = statements.find((s: any) => s.Sid === 'WriteViews');
    assert.ok(JSON.stringify(glue.Resource).includes(`:table/${inputs.schema.DatabaseName}/*`));
    assert.ok(!JSON.stringify(statements).includes('"s3:PutObject","Resource":"*"'));
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(stack.views.handler)].Properties;
    assert.equal(fn.Runtime, 'nodejs24.x');
    assert.equal(fn.Handler, 'index.handler');
  });
});


describe('the views handler against moto', () => {
  let moto: { endpoint: string; stop: () => void };

  before(async () => {
    moto = await startMoto();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
    });
  });
  after(() => moto?.stop());

  it('creates every view in order, again on an update, and nothing on a delete', async () => {
    const athena = await import('@aws-sdk/client-athena');
    const client = new athena.AthenaClient({});
    await client.send(new athena.CreateWorkGroupCommand({ Name: 'views-wg' }));
    const { handler } = require('../lambda/create-views/index.js');
    const [[, resource]] = resourcesOf(template, 'Custom::DdbLakeViews');
    const properties = { ...resource.Properties, WorkGroup: 'views-wg', ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:x' };
    const submitted = async () => {
      const { QueryExecutionIds = [] } = await client.send(new athena.ListQueryExecutionsCommand({ WorkGroup: 'views-wg' }));
      const executions = [];
      for (const id of QueryExecutionIds) {
        executions.push((await client.send(new athena.GetQueryExecutionCommand({ QueryExecutionId: id }))).QueryExecution!);
      }
      executions.sort((a, b) => a.Status!.SubmissionDateTime!.getTime() - b.Status!.SubmissionDateTime!.getTime());
      return executions;
    };

    // The handler logs a JSON line per view (for CloudWatch); kept out of the test's output.
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => lines.push(line);
    const created = await handler({ RequestType: 'Create', ResourceProperties: properties }).finally(() => (console.log = log));
    assert.deepEqual(lines.map((l) => JSON.parse(l).created), views.map((v) => v.name));
    assert.deepEqual(created, { PhysicalResourceId: `ddb-lake-views-${inputs.schema.DatabaseName}`, Data: { Views: String(views.length) } });
    let executions = await submitted();
    assert.deepEqual(executions.map((e) => e.Query), views.map((v) => v.sql));
    for (const e of executions) {
      assert.equal(e.QueryExecutionContext?.Database, inputs.schema.DatabaseName);
      assert.equal(e.Status?.State, 'SUCCEEDED');
    }

    console.log = () => {};
    const updated = await handler({ RequestType: 'Update', PhysicalResourceId: created.PhysicalResourceId, ResourceProperties: properties }).finally(
      () => (console.log = log),
    );
    assert.equal(updated.PhysicalResourceId, created.PhysicalResourceId);
    executions = await submitted();
    assert.deepEqual(executions.map((e) => e.Query), [...views, ...views].map((v) => v.sql));

    await handler({ RequestType: 'Delete', PhysicalResourceId: created.PhysicalResourceId, ResourceProperties: properties });
    assert.equal((await submitted()).length, 2 * views.length, 'a delete submits nothing');
  });
});
