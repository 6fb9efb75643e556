#!/usr/bin/env node
// The CDK app: reads the deployment's settings from the context (`-c key=value`, cdk.json),
// exports the catalog and the SQL with the `ddb-lake` command, builds the stack and runs the
// cdk-nag AwsSolutions checks on it (a finding without a written suppression fails synth).
// Run by `npx cdk synth|deploy|destroy` through cdk.json.

import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

import { readConfig } from '../lib/config';
import { DdbLakeStack } from '../lib/ddb-lake-stack';
import { loadInputs } from '../lib/inputs';

const app = new App();
const read = (key: string) => app.node.tryGetContext(key);
const config = readConfig(read);
const inputs = loadInputs(config.spec, config.ddbLakeCli);
new DdbLakeStack(app, (read('stackName') as string | undefined) ?? 'DdbLake', {
  config,
  inputs,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: `ddb-lake: DynamoDB stream → S3 lake → Glue/Athena (${inputs.schema.DatabaseName})`,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
