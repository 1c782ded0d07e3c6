/**
 * A Confluent-compatible schema registry: Apicurio Registry (a Quarkus app from Maven Central,
 * `io.apicurio:apicurio-registry-app`, its ready-built `all` assembly), unpacked once under
 * .dogear/tools/apicurio/ (gitignored, kept between runs) and run on free loopback ports with
 * in-memory storage. It serves Confluent's REST API under `/apis/ccompat/v7`. It needs Java 21
 * or later; the JDK is found on its own (JAVA_HOME, else /usr/lib/jvm/*).
 *
 * Library: `await startConfluentRegistry({ basicAuth? })`; `registerSchema(url, …)` and
 *          `setCompatibility(url, …)` for tests.
 * Script:  `npx tsx infra/confluent-registry.ts [--port N] [--user NAME --password SECRET]`
 *          (or `npm run confluent-registry`) installs it when missing, prints
 *          `DOGEAR_CONFLUENT_REGISTRY_URL=…` and keeps it running until SIGINT/SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from './dynamodb-local.ts';
import { onlyOnce, runAsScript, secondsSince } from './script.ts';
import { fillOnce } from './stamped-folder.ts';

/** The release on Maven Central; a new pin unpacks a new copy. */
export const APICURIO_VERSION = '3.3.3';
const ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;
/** Apicurio 3.3 is built for Java 21 (class file version 65); Java 17 cannot load it. */
const MIN_JAVA = 21;
const JVM_ROOT = '/usr/lib/jvm';
/** The JDK this workplace's machines carry beside Debian's Java 17, in JVM_ROOT. */
const PREFERRED_JDK = 'temurin-25-jdk-amd64';
/** The Confluent-compatible API's base path in Apicurio. */
const CCOMPAT = '/apis/ccompat/v7';
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 10_000;
const TAIL_LINES = 40;
const STACK_FRAME = /^\s+(at |\.\.\. \d+ more)/;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const appDir = join(repoRoot, '.dogear', 'tools', 'apicurio');

export interface BasicAuth {
  readonly username: string;
  readonly password: string;
}

export interface ConfluentRegistry {
  /** `http://127.0.0.1:<port>/apis/ccompat/v7`: what a Confluent client takes as its base URL. */
  readonly url: string;
  /** The credentials it requires, when started with them. */
  readonly basicAuth?: BasicAuth;
  stop(): Promise<void>;
}

/**
 * `bin/java` of a JDK that can run Apicurio: JAVA_HOME if it is Java 21+, else Temurin 25 where
 * this workplace installs it, else the newest other JDK 21+ under /usr/lib/jvm. Throws naming
 * the Java it found and what to install when there is none.
 */
export function findJava21(
  where: { javaHome?: string | undefined; jvmRoot?: string } = { javaHome: process.env.JAVA_HOME },
): string {
  const { javaHome, jvmRoot = JVM_ROOT } = where;
  const preferred = join(jvmRoot, PREFERRED_JDK);
  const installed = existsSync(jvmRoot)
    ? readdirSync(jvmRoot)
        .map((name) => join(jvmRoot, name))
        .map((dir) => ({ dir, major: javaMajor(dir) }))
        .filter(({ major }) => major !== undefined)
        .sort((a, b) => (b.major ?? 0) - (a.major ?? 0))
    : [];
  const candidates = [
    ...(javaHome ? [{ dir: javaHome, major: javaMajor(javaHome) }] : []),
    { dir: preferred, major: javaMajor(preferred) },
    ...installed,
  ];
  const usable = candidates.find(({ major }) => major !== undefined && major >= MIN_JAVA);
  if (usable) return join(usable.dir, 'bin', 'java');
  const found = [...new Map(candidates.map((c) => [c.dir, c])).values()]
    .filter(({ major }) => major !== undefined)
    .map(({ dir, major }) => `Java ${major} (${dir})`);
  throw new Error(
    `Apicurio Registry ${APICURIO_VERSION} needs Java ${MIN_JAVA} or later, but found ${found.length > 0 ? found.join(', ') : 'no JDK'}${javaHome ? ` with JAVA_HOME=${javaHome}` : ' and JAVA_HOME is not set'}. Install a JDK ${MIN_JAVA}+ (e.g. Eclipse Temurin 25 into ${preferred}) and point JAVA_HOME at it.`,
  );
}

/** The major version a JDK's `release` file names, if the folder is a JDK with a java binary. */
function javaMajor(dir: string): number | undefined {
  if (!existsSync(join(dir, 'bin', 'java'))) return undefined;
  try {
    const release = readFileSync(join(dir, 'release'), 'utf8');
    const version = /^JAVA_VERSION="(\d+)(?:\.(\d+))?/m.exec(release);
    if (!version) return undefined;
    // Java 8 and earlier call themselves 1.x.
    return version[1] === '1' ? Number(version[2]) : Number(version[1]);
  } catch {
    return undefined;
  }
}

/**
 * The unpacked app (`quarkus-run.jar`, `lib/`, `app/`, `quarkus/`), fetched by Maven into
 * .dogear/tools/apicurio once per version.
 */
export function ensureApicurio(): Promise<string> {
  installing ??= installApicurio();
  return installing;
}

let installing: Promise<string> | undefined;

async function installApicurio(): Promise<string> {
  const started = performance.now();
  let installed: boolean;
  try {
    installed = await fillOnce(
      appDir,
      `apicurio-registry-app ${APICURIO_VERSION}`,
      async (staging) => {
        await run('mvn', [
          '-q',
          '-B',
          'dependency:copy',
          `-Dartifact=${ARTIFACT}`,
          `-DoutputDirectory=${staging}`,
        ]);
        const tarball = join(staging, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
        await run('tar', ['xzf', tarball, '-C', staging]);
        await rm(tarball);
        if (!existsSync(join(staging, 'quarkus-run.jar')))
          throw new Error(`${ARTIFACT} holds no quarkus-run.jar`);
      },
    );
  } catch (error) {
    throw new Error(
      `Could not install Apicurio Registry ${APICURIO_VERSION} into ${relative(process.cwd(), appDir)}: ${(error as Error).message}\nIt needs Maven (mvn on PATH) and access to Maven Central.`,
      { cause: error },
    );
  }
  if (installed) {
    process.stderr.write(
      `[confluent-registry] fetched Apicurio Registry ${APICURIO_VERSION} with Maven in ${secondsSince(started)} (${relative(process.cwd(), appDir)})\n`,
    );
  }
  return appDir;
}

export interface ConfluentRegistryOptions {
  /** Require these credentials (HTTP basic auth) on every API call. */
  basicAuth?: BasicAuth;
  /** The HTTP port; a free one when omitted. */
  port?: number;
  /** Receives every line the server prints (it logs at WARN). */
  log?: (line: string) => void;
}

/**
 * Starts Apicurio on 127.0.0.1 (its management interface too, on a second free port) with
 * in-memory storage, and resolves once `/apis/ccompat/v7/subjects` answers 200.
 */
export async function startConfluentRegistry(
  options: ConfluentRegistryOptions = {},
): Promise<ConfluentRegistry> {
  const java = findJava21();
  const app = await ensureApicurio();
  const port = options.port ?? (await freePort());
  let managementPort = await freePort();
  while (managementPort === port) managementPort = await freePort();
  const { basicAuth } = options;
  const properties: Record<string, string | number | boolean> = {
    'quarkus.http.host': '127.0.0.1',
    'quarkus.http.port': port,
    // The health and metrics interface listens on 0.0.0.0:9000 by default.
    'quarkus.management.host': '127.0.0.1',
    'quarkus.management.port': managementPort,
    // The default storage, said here so no configuration elsewhere can change it: H2 in memory.
    'apicurio.storage.kind': 'sql',
    'apicurio.storage.sql.kind': 'h2',
    'quarkus.log.level': 'WARN',
    'quarkus.http.access-log.enabled': false,
    ...(basicAuth && {
      // Quarkus warns that quarkus.http.auth.basic is fixed at build time; it is enforced anyway.
      'quarkus.http.auth.basic': true,
      'quarkus.security.users.embedded.enabled': true,
      'quarkus.security.users.embedded.plain-text': true,
      [`quarkus.security.users.embedded.users.${basicAuth.username}`]: basicAuth.password,
      'quarkus.http.auth.permission.api.paths': '/apis/*',
      'quarkus.http.auth.permission.api.policy': 'authenticated',
    }),
  };
  const dir = await mkdtemp(join(tmpdir(), 'dogear-apicurio-'));
  const child: ChildProcess = spawn(
    java,
    [
      '-Xmx512m',
      '-XX:+ExitOnOutOfMemoryError',
      // Two shared cores, and a server that tests ask a few dozen questions: the default G1 with
      // its worker threads and the optimising JIT cost CPU the broker's start needs more. Measured
      // on the start alone: 10-12 s of CPU without these flags, 6 s with them.
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      `-Djava.io.tmpdir=${dir}`,
      ...Object.entries(properties).map(([key, value]) => `-D${key}=${value}`),
      '-jar',
      join(app, 'quarkus-run.jar'),
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      options.log?.(line);
      if (STACK_FRAME.test(line)) return;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    });
  }
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const base = `http://127.0.0.1:${port}`;
  const url = `${base}${CCOMPAT}`;
  const stop = onlyOnce(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const why =
      child.exitCode !== null
        ? `exited with code ${child.exitCode} before it was ready`
        : Date.now() > deadline
          ? `was not ready within ${READY_TIMEOUT_MS / 1000} s`
          : undefined;
    if (why) {
      await stop();
      throw new Error(
        `Apicurio Registry (${java}) ${why} on ${base}. Last lines of its output:\n${tail.join('\n') || '(none)'}`,
      );
    }
    if ((await status(`${url}/subjects`, basicAuth)) === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { url, ...(basicAuth && { basicAuth }), stop };
}

async function status(url: string, auth: BasicAuth | undefined): Promise<number | undefined> {
  try {
    const response = await fetch(url, { headers: headers(auth) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return undefined;
  }
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

function headers(auth: BasicAuth | undefined): Record<string, string> {
  return {
    accept: CONTENT_TYPE,
    'content-type': CONTENT_TYPE,
    ...(auth && {
      authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`,
    }),
  };
}

/** An error answer of Confluent's API: the HTTP status and the body's `error_code`. */
export class ConfluentRegistryError extends Error {
  override readonly name = 'ConfluentRegistryError';
  constructor(
    readonly status: number,
    /** Confluent's code, e.g. 40403 (schema not found), 409 (incompatible); undefined if none. */
    readonly errorCode: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

async function call(
  method: string,
  url: string,
  body: unknown,
  auth: BasicAuth | undefined,
): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method, headers: headers(auth), body: JSON.stringify(body) });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // Not JSON: a proxy's or the server's own error page; the status says enough.
  }
  if (!response.ok) {
    const code = typeof parsed.error_code === 'number' ? parsed.error_code : undefined;
    throw new ConfluentRegistryError(
      response.status,
      code,
      `${method} ${url} answered ${response.status}${code ? ` (error_code ${code})` : ''}: ${String(parsed.message ?? text)}`,
    );
  }
  return parsed;
}

export type ConfluentSchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';

/**
 * Registers `schema` under `subject` (`POST /subjects/{subject}/versions`) and returns its
 * global id, what Confluent's wire format carries. The same schema again returns the same id.
 */
export async function registerSchema(
  url: string,
  subject: string,
  schema: string,
  schemaType: ConfluentSchemaType = 'AVRO',
  auth?: BasicAuth,
): Promise<number> {
  const answer = await call(
    'POST',
    `${url}/subjects/${encodeURIComponent(subject)}/versions`,
    // Confluent's API takes an absent schemaType as AVRO.
    schemaType === 'AVRO' ? { schema } : { schema, schemaType },
    auth,
  );
  if (typeof answer.id !== 'number')
    throw new Error(`registering under ${subject} returned no id: ${JSON.stringify(answer)}`);
  return answer.id;
}

/** Sets the subject's compatibility level (`PUT /config/{subject}`): BACKWARD, FORWARD, FULL, NONE, … */
export async function setCompatibility(
  url: string,
  subject: string,
  level: string,
  auth?: BasicAuth,
): Promise<void> {
  await call('PUT', `${url}/config/${encodeURIComponent(subject)}`, { compatibility: level }, auth);
}

/** Runs a command to completion; on failure the error carries its output. */
function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error(`${command} was not found on PATH`) : error),
    );
    child.once('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(`\`${command} ${args.join(' ')}\` exited with code ${code}:\n${output.trim()}`),
        );
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
    },
  });
  if ((values.user === undefined) !== (values.password === undefined))
    throw new Error('--user and --password go together');
  const started = performance.now();
  const registry = await startConfluentRegistry({
    ...(values.port && { port: Number(values.port) }),
    ...(values.user &&
      values.password && { basicAuth: { username: values.user, password: values.password } }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(`[confluent-registry] Apicurio ready in ${secondsSince(started)}\n`);
  process.stdout.write(`DOGEAR_CONFLUENT_REGISTRY_URL=${registry.url}\n`);
  const stop = () => void registry.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

runAsScript(import.meta.url, main);
