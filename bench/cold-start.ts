/**
 * One cold start of a Lambda bundle, measured: a fresh `node` process (this one's binary, the
 * project's pinned Node 24) runs bench/cold-start-child.mjs, which imports the bundle and hands
 * its `handler` one event. The child times itself from its own start; the parent times the
 * whole process, spawn to exit.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./cold-start-child.mjs', import.meta.url));
const TIMEOUT_MS = 180_000;

export interface ColdStartRun {
  /** The bundle's ES module, exporting `handler`. */
  readonly bundle: string;
  /** The event, as JSON. */
  readonly eventFile: string;
  /** Lambda's function name, for the context. */
  readonly functionName: string;
  /** The child's whole environment: nothing of this process's is passed on. */
  readonly env: Readonly<Record<string, string>>;
  /** `import-only`: import the bundle and stop (Lambda's Init alone). @default 'invoke' */
  readonly mode?: 'invoke' | 'import-only';
}

export interface ColdStart {
  /** Process start to the runner's first line: Node's own start-up. */
  readonly startMs: number;
  /** Reading and parsing the event file (Lambda's runtime does this outside the handler). */
  readonly eventMs: number;
  /** `await import(bundle)`: loading, compiling and running the bundle's top level. */
  readonly importMs: number;
  /** The first `handler(event, context)`, to its promise settling (0 for `import-only`). */
  readonly invokeMs: number;
  /** Process start to the handler's promise settling (`import-only`: to the import's end). */
  readonly totalMs: number;
  /** The parent's clock: spawn to the child's exit. */
  readonly wallMs: number;
  /** What the handler returned (`null` for undefined). */
  readonly result: unknown;
}

/** Runs one child; rejects with the tail of its output if it fails or says nothing. */
export function coldStart(run: ColdStartRun): Promise<ColdStart> {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const args = [CHILD, run.bundle, run.eventFile, run.functionName, run.mode ?? 'invoke'];
    const child = spawn(process.execPath, args, {
      env: { ...run.env },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let report = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      report += chunk.toString();
    });
    let wallMs = 0;
    child.once('exit', () => {
      wallMs = performance.now() - began;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0 || !report.trim()) {
        reject(
          new Error(
            `cold start of ${run.bundle} failed (${signal ?? `exit code ${code}`}${code === 0 ? ', no report' : ''}):\n${output}`,
          ),
        );
        return;
      }
      const times = JSON.parse(report) as Omit<ColdStart, 'wallMs'>;
      resolve({ ...times, wallMs });
    });
  });
}
