/**
 * The AWS Glue Schema Registry API, served by moto's server (PyPI `moto`, pinned with its
 * dependencies in infra/moto/requirements.txt) in a virtualenv under .dogear/tools/moto/
 * (gitignored, kept between runs): started on a free loopback port, in memory, and stopped after.
 * test/setup/registries.ts starts one for the test run.
 *
 * moto serves CreateRegistry, CreateSchema, RegisterSchemaVersion and GetSchemaVersion (by id,
 * or by schema and version number), but checks neither compatibility nor schema syntax, and
 * ListSchemaVersions answers 500: a test that needs "incompatible" must rely on dogear's check.
 *
 * Library: `await startGlueRegistry()`; `registerGlueSchemaVersions(endpoint, …)` registers
 *          writer schemas and returns their version ids; `glueRequest` signs any other call.
 * Script:  `npx tsx infra/glue-registry.ts [--port N]` (or `npm run glue-registry`) installs moto
 *          when missing, prints `DOGEAR_GLUE_ENDPOINT=…` and keeps it running until SIGINT/SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AwsClient } from 'aws4fetch';
import { accepts, freePort } from './dynamodb-local.ts';
import { installPythonTool, run } from './python-tool.ts';
import { runAsScript, secondsSince } from './script.ts';

/** The release on PyPI (https://pypi.org/project/moto/); requirements.txt pins it and its dependencies. */
export const MOTO_VERSION = '5.2.5';
/** moto 5.2 runs on Python 3.9 and later (its PyPI page). */
const MIN_PYTHON = [3, 9] as const;
/** moto accepts any key pair and any region; requests are signed only so that it routes them. */
export const GLUE_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;
const DEFAULT_REGION = 'us-east-1';
const READY_TIMEOUT_MS = 60_000;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const requirementsFile = join(repoRoot, 'infra', 'moto', 'requirements.txt');

export interface GlueRegistry {
  /** `http://127.0.0.1:<port>`: the endpoint for Glue calls (and any other moto serves). */
  readonly endpoint: string;
  /** The region requests are signed for; moto keeps a separate registry per region. */
  readonly region: string;
  /**
   * Forgets every registry, schema and version (`POST /moto-api/reset`). The server is shared
   * by every test file of a run: a test file should use registry names of its own instead.
   */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The venv's python, with moto installed in it: installed on first use. An unfinished install,
 * or one of another version or other pins (no stamp naming both), is replaced.
 */
export function ensureMoto(): Promise<string> {
  // Once per process: a failed install fails every later call the same way, without retrying.
  installing ??= installMoto();
  return installing;
}

let installing: Promise<string> | undefined;

async function installMoto(): Promise<string> {
  const pins = await readFile(requirementsFile);
  return installPythonTool({
    name: 'moto',
    stamp: `moto ${MOTO_VERSION} ${createHash('sha256').update(pins).digest('hex')}`,
    minPython: MIN_PYTHON,
    // Python compiles the modules the server imports when it first starts (a second); all of
    // botocore's up front would add a third to the install.
    pip: ['--no-compile', '-r', requirementsFile],
    script: 'glue-registry',
    async check(python) {
      const version = await run(python, ['-c', 'import moto; print(moto.__version__)']);
      if (version.trim() !== MOTO_VERSION) throw new Error(`the venv's moto is ${version.trim()}`);
    },
  });
}

/** Starts moto's server on 127.0.0.1 and resolves once it answers a signed Glue call. */
export async function startGlueRegistry(
  options: { port?: number; region?: string } = {},
): Promise<GlueRegistry> {
  const python = await ensureMoto();
  const port = options.port ?? (await freePort());
  const region = options.region ?? DEFAULT_REGION;
  const endpoint = `http://127.0.0.1:${port}`;
  const server: ChildProcess = spawn(
    python,
    ['-m', 'moto.server', '--host', '127.0.0.1', '--port', String(port)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Werkzeug writes one line per request; unbuffered, so the tail in an error is current.
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  server.stdout?.on('data', keep);
  server.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => server.once('close', () => resolve()));
  // A test runner that exits without calling stop() must not leave the server behind.
  const killOnExit = () => server.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const fail = (why: string) => {
    server.kill('SIGKILL');
    return new Error(`moto's server ${why} on ${endpoint}. Its output:\n${output || '(none)'}`);
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (server.exitCode !== null)
      throw fail(`exited with code ${server.exitCode} before it was ready`);
    if (Date.now() > deadline) throw fail(`was not ready within ${READY_TIMEOUT_MS / 1000} s`);
    // The first Glue call also loads moto's Glue backend, so the tests' first call is not slow.
    if ((await accepts(port)) && (await answers(endpoint, region))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    endpoint,
    region,
    async reset() {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!response.ok) throw new Error(`moto reset answered ${response.status}`);
    },
    async stop() {
      if (server.exitCode !== null || server.signalCode !== null) return;
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function answers(endpoint: string, region: string): Promise<boolean> {
  try {
    await glueRequest(endpoint, 'ListRegistries', {}, { region });
    return true;
  } catch {
    return false;
  }
}

/** A Glue error as the JSON 1.1 protocol returns it: `__type` and `message`. */
export class GlueRequestError extends Error {
  override readonly name = 'GlueRequestError';
  constructor(
    readonly action: string,
    readonly status: number,
    /** `EntityNotFoundException`, `AlreadyExistsException`, …; '' when the body had none. */
    readonly type: string,
    message: string,
  ) {
    super(`Glue ${action} answered ${status} ${type}: ${message}`);
  }
}

/**
 * One Glue call (JSON 1.1, `X-Amz-Target: AWSGlue.<action>`), signed with SigV4 for service
 * `glue`: moto picks the service by the Authorization header's credential scope, and routes an
 * unsigned POST to S3. Resolves with the parsed answer; rejects with a GlueRequestError.
 */
export async function glueRequest(
  endpoint: string,
  action: string,
  body: Record<string, unknown>,
  options: { region?: string } = {},
): Promise<Record<string, unknown>> {
  const client = new AwsClient({
    ...GLUE_CREDENTIALS,
    service: 'glue',
    region: options.region ?? DEFAULT_REGION,
    retries: 0,
  });
  const response = await client.fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `AWSGlue.${action}`,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    throw new GlueRequestError(action, response.status, '', text.slice(0, 500));
  }
  if (!response.ok) {
    const type = String(parsed.__type ?? response.headers.get('x-amzn-errortype') ?? '');
    throw new GlueRequestError(
      action,
      response.status,
      type,
      String(parsed.message ?? parsed.Message ?? text),
    );
  }
  return parsed;
}

export type GlueDataFormat = 'AVRO' | 'JSON' | 'PROTOBUF';

export interface GlueSchemaVersions {
  registryName: string;
  schemaName: string;
  schemaArn: string;
  /** One schema version id (a UUID, what Glue's wire format carries) per definition, in order. */
  versionIds: string[];
}

/**
 * Registers writer schemas: creates the registry unless it exists, creates the schema with the
 * first definition (version 1), then registers each further definition as the next version.
 */
export async function registerGlueSchemaVersions(
  endpoint: string,
  schema: {
    registryName: string;
    schemaName: string;
    dataFormat: GlueDataFormat;
    /** Glue's own setting; moto stores it but enforces none. @default 'NONE' */
    compatibility?: string;
    /** The schema texts, oldest first; at least one. */
    definitions: readonly string[];
    region?: string;
  },
): Promise<GlueSchemaVersions> {
  const [first, ...later] = schema.definitions;
  if (first === undefined) throw new Error('registerGlueSchemaVersions needs a definition');
  const options = { region: schema.region };
  const { registryName, schemaName } = schema;
  await glueRequest(endpoint, 'CreateRegistry', { RegistryName: registryName }, options).catch(
    (error: unknown) => {
      if (!(error instanceof GlueRequestError && error.type === 'AlreadyExistsException'))
        throw error;
    },
  );
  const created = await glueRequest(
    endpoint,
    'CreateSchema',
    {
      RegistryId: { RegistryName: registryName },
      SchemaName: schemaName,
      DataFormat: schema.dataFormat,
      Compatibility: schema.compatibility ?? 'NONE',
      SchemaDefinition: first,
    },
    options,
  );
  const versionIds = [String(created.SchemaVersionId)];
  for (const definition of later) {
    const registered = await glueRequest(
      endpoint,
      'RegisterSchemaVersion',
      {
        SchemaId: { RegistryName: registryName, SchemaName: schemaName },
        SchemaDefinition: definition,
      },
      options,
    );
    versionIds.push(String(registered.SchemaVersionId));
  }
  return { registryName, schemaName, schemaArn: String(created.SchemaArn), versionIds };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' } } });
  const started = performance.now();
  const registry = await startGlueRegistry(values.port ? { port: Number(values.port) } : {});
  process.stderr.write(`[glue-registry] moto ready in ${secondsSince(started)}\n`);
  process.stdout.write(`DOGEAR_GLUE_ENDPOINT=${registry.endpoint}\n`);
  const stop = () => void registry.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

runAsScript(import.meta.url, main);
