// The real `cdk synth` (the pinned aws-cdk CLI running bin/ddb-lake.ts through cdk.json),
// offline and without AWS credentials, as an engineer runs it before `cdk deploy`: it must
// succeed with the prebuilt artifact and write the template, and fail with the fix in its
// message when the artifact is missing.

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { artifactDir, cli, sqlFilesOnDisk, tempDir } from './helpers';

const CDK_DIR = path.join(__dirname, '..');

function cdkSynth(context: Record<string, string>) {
  const out = tempDir('synth');
  const args = ['synth', '--quiet', '--no-notices', '--output', out];
  for (const [k, v] of Object.entries(context)) args.push('--context', `${k}=${v}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CDK_DISABLE_VERSION_CHECK: 'true',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[k];
  const started = Date.now();
  const run = spawnSync(path.join(CDK_DIR, 'node_modules', '.bin', 'cdk'), args, { cwd: CDK_DIR, env, encoding: 'utf8' });
  return { ...run, out, seconds: (Date.now() - started) / 1000 };
}

describe('cdk synth', () => {
  it('synthesizes the stack offline with a prebuilt artifact', () => {
    const run = cdkSynth({ artifact: artifactDir(), ddbLakeCli: cli() });
    assert.equal(run.status, 0, `cdk synth failed:\n${run.stdout}\n${run.stderr}`);
    const template = JSON.parse(fs.readFileSync(path.join(run.out, 'DdbLake.template.json'), 'utf8'));
    const count = (type: string) => Object.values(template.Resources).filter((r: any) => r.Type === type).length;
    // The stream function and the backfill worker; the views handler and CDK's provider
    // framework function for the views custom resource.
    assert.equal(count('AWS::Lambda::Function'), 4);
    assert.equal(count('Custom::DdbLakeViews'), 1);
    assert.equal(count('AWS::Lambda::EventSourceMapping'), 1);
    // changes, attributes, _rejects, snapshots and compactions, plus the example spec's
    // sync_configs and field_mappings; and the Parquet history and state of the four item tables.
    assert.equal(count('AWS::Glue::Table'), 7 + 2 * 4);
    // The files, current_<table> of the 2 declared tables, history_ and live_ of the 4 item tables.
    assert.equal(count('AWS::Athena::NamedQuery'), sqlFilesOnDisk().length + 2 + 2 * 4);
    assert.equal(count('AWS::CloudWatch::Alarm'), 11);
    // Backfill, compaction and the recorded_errors metric publisher; the last two on
    // schedules, and the canary's heartbeat.
    assert.equal(count('AWS::StepFunctions::StateMachine'), 3);
    assert.equal(count('AWS::Scheduler::Schedule'), 3);
    // The function's asset is staged next to the template.
    const fn: any = Object.values(template.Resources).find(
      (r: any) => r.Type === 'AWS::Lambda::Function' && r.Properties.Runtime === 'provided.al2023',
    );
    const key: string = fn.Properties.Code.S3Key;
    assert.ok(fs.existsSync(path.join(run.out, `asset.${key.replace(/\.zip$/, '')}`, 'bootstrap')));
    process.stdout.write(`# cdk synth took ${run.seconds.toFixed(1)} s\n`);
  });

  it('fails with the build command when the artifact is missing', () => {
    const run = cdkSynth({ artifact: '/nonexistent/bootstrap.zip', ddbLakeCli: cli() });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /artifact: \/nonexistent\/bootstrap\.zip does not exist\. Build it with `cargo lambda build --release --x86-64 -p ddb-lake-function --bin ddb-lake-normalizer/);
  });
});
