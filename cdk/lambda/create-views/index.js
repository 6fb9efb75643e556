// The views custom resource's handler (CDK's Provider framework calls it; lib/views.ts):
// on Create and Update it runs every view statement of `ddb-lake sql export` in Athena, in
// the given order, each only after the previous one succeeded (a view's statement is checked
// against the views it reads), and fails naming the view and Athena's reason. On Delete it
// does nothing: the views live in the stack's Glue database, which goes with the stack.
// Node.js on Lambda (24.x) ships the AWS SDK v3 this requires; the tests run it against moto.

const { AthenaClient, StartQueryExecutionCommand, GetQueryExecutionCommand } = require('@aws-sdk/client-athena');

const athena = new AthenaClient({});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs one statement and waits for it (100 ms between polls, doubling, at most 2 s). */
async function run(sql, database, workGroup) {
  const { QueryExecutionId } = await athena.send(
    new StartQueryExecutionCommand({ QueryString: sql, WorkGroup: workGroup, QueryExecutionContext: { Database: database } }),
  );
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    await sleep(delay);
    const { QueryExecution } = await athena.send(new GetQueryExecutionCommand({ QueryExecutionId }));
    const state = QueryExecution.Status.State;
    if (state === 'SUCCEEDED') return QueryExecutionId;
    if (state === 'FAILED' || state === 'CANCELLED') {
      throw new Error(`${state}: ${QueryExecution.Status.StateChangeReason ?? 'no reason given'} (query ${QueryExecutionId})`);
    }
  }
}

exports.handler = async (event) => {
  const { Database, WorkGroup, Views } = event.ResourceProperties;
  const physicalId = event.PhysicalResourceId ?? `ddb-lake-views-${Database}`;
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalId };
  for (const [i, view] of Views.entries()) {
    try {
      await run(view.Sql, Database, WorkGroup);
    } catch (e) {
      throw new Error(`cannot create view ${view.Name} (v${view.Version}, ${i + 1} of ${Views.length}) in ${Database}: ${e.message}`);
    }
    console.log(JSON.stringify({ created: view.Name, version: view.Version, database: Database }));
  }
  return { PhysicalResourceId: physicalId, Data: { Views: String(Views.length) } };
};
