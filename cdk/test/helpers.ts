// Shared pieces of the CDK tests: where the workspace's binaries are, a real function
// artifact made from the freshly built `ddb-lake-normalizer`, building the stack for a set
// of context values, and reading the repository's SQL files independently of the app.
// Used by every test under cdk/test.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import * as assert from 'node:assert/strict';

import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';

import { readConfig } from '../lib/config';
import { DdbLakeStack } from '../lib/ddb-lake-stack';
import { LakeInputs, loadInputs, REPO_ROOT } from '../lib/inputs';

export { REPO_ROOT };
export const EXAMPLE_SPEC = path.join(REPO_ROOT, 'docs', 'examples', 'sync-configurations.toml');

/** The folder with the workspace's built binaries (`ddb-lake`, `ddb-lake-normalizer`). */
export function binDir(): string {
  const dir = process.env.DDB_LAKE_BIN_DIR;
  const help =
    'The CDK tests run the real `ddb-lake` command and package the real function binary. ' +
    'Run them with ./scripts/test (it builds the binaries and sets DDB_LAKE_BIN_DIR), or: ' +
    'cargo build --workspace --all-targets && DDB_LAKE_BIN_DIR=<target dir>/debug npm test';
  if (!dir) throw new Error(`DDB_LAKE_BIN_DIR is not set. ${help}`);
  for (const bin of ['ddb-lake', 'ddb-lake-normalizer']) {
    if (!fs.existsSync(path.join(dir, bin))) throw new Error(`${path.join(dir, bin)} does not exist. ${help}`);
  }
  return dir;
}

export const cli = () => path.join(binDir(), 'ddb-lake');

let scratch: string | undefined;
/** A fresh folder under this test process's scratch folder, which is removed when the process exits. */
export function tempDir(name: string): string {
  if (!scratch) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ddb-lake-cdk-test-'));
    process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
    scratch = root;
  }
  return fs.mkdtempSync(path.join(scratch, `${name}-`));
}

let artifact: string | undefined;
/**
 * A folder holding `bootstrap`: the built function binary, as a prebuilt artifact. Its debug
 * info is stripped (235 MB → about 40 MB) because every synth stages a copy.
 */
export function artifactDir(): string {
  if (!artifact) {
    artifact = tempDir('artifact');
    const source = path.join(binDir(), 'ddb-lake-normalizer');
    const bootstrap = path.join(artifact, 'bootstrap');
    if (spawnSync('strip', ['--strip-debug', '-o', bootstrap, source]).status !== 0) fs.copyFileSync(source, bootstrap);
  }
  return artifact;
}

export interface Synthesized {
  app: App;
  stack: DdbLakeStack;
  template: Template;
  inputs: LakeInputs;
}

/** Builds the stack as bin/ddb-lake.ts does, for these context values (artifact and CLI filled in). */
export function synth(context: Record<string, unknown> = {}): Synthesized {
  // The feature flags of cdk.json, as `cdk synth` applies them.
  const flags = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')).context;
  const full = { ...flags, artifact: artifactDir(), ddbLakeCli: cli(), spec: EXAMPLE_SPEC, ...context };
  const app = new App({ context: full, outdir: tempDir('cdk.out') });
  const config = readConfig((k) => app.node.tryGetContext(k));
  const inputs = loadInputs(config.spec, config.ddbLakeCli);
  const stack = new DdbLakeStack(app, 'Test', { config, inputs });
  return { app, stack, template: Template.fromStack(stack), inputs };
}

/** The template's logical id of a construct's CloudFormation resource. */
export function logicalIdOf(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** Fails unless cdk-nag's AwsSolutions pack finds nothing unacknowledged in the app. */
export function assertNagClean(app: App): void {
  const report = new AwsSolutionsChecks().validateScope(app);
  assert.deepEqual(
    report.violations.map((v: any) => `${v.ruleName}: ${JSON.stringify(v.violatingResources)}`),
    [],
  );
  assert.equal(report.success, true);
}

/** A lake spec file in a temporary folder. */
export function writeSpec(toml: string): string {
  const dir = tempDir('spec');
  const file = path.join(dir, 'spec.toml');
  fs.writeFileSync(file, toml);
  return file;
}

/** One file of sql/, read the way its header documents (`-- key: value` lines, then the body). */
export interface SqlFileOnDisk {
  path: string;
  name: string;
  kind: string;
  version: number;
  params: { name: string; type: string; default: string }[];
  body: string;
}

export function sqlFilesOnDisk(): SqlFileOnDisk[] {
  const files: SqlFileOnDisk[] = [];
  for (const folder of ['views', 'questions']) {
    const dir = path.join(REPO_ROOT, 'sql', folder);
    for (const name of fs.readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
      const text = fs.readFileSync(path.join(dir, name), 'utf8');
      const header: Record<string, string[]> = {};
      const lines = text.split('\n');
      let i = 0;
      for (; i < lines.length; i++) {
        const m = /^-- (name|kind|question|version|reads|param|chart|metric):(.*)$/.exec(lines[i]);
        if (!m) break;
        (header[m[1]] ??= []).push(m[2].trim());
      }
      files.push({
        path: `sql/${folder}/${name}`,
        name: header.name[0],
        kind: header.kind[0],
        version: Number(header.version[0]),
        params: (header.param ?? []).map((p) => {
          const [pname, type, def] = p.split(' ');
          return { name: pname, type, default: def };
        }),
        body: lines.slice(i).join('\n').trim().replace(/;$/, '').trim(),
      });
    }
  }
  return files;
}

/** The body with each `{{param}}` replaced by its default as a SQL literal. */
export function bodyAtDefaults(f: SqlFileOnDisk): string {
  let sql = f.body;
  for (const p of f.params) {
    const literal = p.type === 'int' ? p.default : `'${p.default.replace(/'/g, "''")}'`;
    sql = sql.split(`{{${p.name}}}`).join(literal);
  }
  return sql;
}

/** Every resource of a type, as [logical id, resource]. */
export function resourcesOf(template: Template, type: string): [string, { Properties: any; [k: string]: any }][] {
  return Object.entries(template.findResources(type)) as [string, { Properties: any; [k: string]: any }][];
}

/** A free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * A moto_server on 127.0.0.1 (`DDB_LAKE_MOTO_SERVER`, else `moto_server` on the PATH, which
 * ./scripts/test installs), answering; `stop` ends it.
 */
export async function startMoto(): Promise<{ endpoint: string; stop: () => void }> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const server = process.env.DDB_LAKE_MOTO_SERVER || 'moto_server';
  const moto: ChildProcess = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  let failed: Error | undefined;
  moto.on('error', (e) => (failed = e));
  for (let i = 0; ; i++) {
    if (failed) throw new Error(`cannot start ${server} (${failed.message}): python3 -m pip install 'moto[server]>=5,<6' (./scripts/test does it)`);
    try {
      if ((await fetch(`${endpoint}/moto-api/`)).ok) break;
    } catch {
      if (i > 100) throw new Error(`${server} did not answer on ${endpoint} within 20 s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { endpoint, stop: () => moto.kill() };
}
