/**
 * A Python tool the tests use (cfn-lint, moto), installed once into a venv under
 * `.dogear/tools/<name>/` with `fillOnce`, so a clean clone needs only Python 3 with venv and pip.
 */
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fillOnce } from './stamped-folder.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** The interpreter that makes the venvs. */
const python3 = process.env.DOGEAR_PYTHON ?? 'python3';

export const venvPython = (venv: string) =>
  process.platform === 'win32' ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python');

export interface PythonTool {
  /** The folder under `.dogear/tools/`, and the name in messages. */
  readonly name: string;
  /** What the venv holds, for `fillOnce`: a new stamp installs a new venv. */
  readonly stamp: string;
  readonly minPython: readonly [number, number];
  /** What `pip install` gets after its quiet options: a pin, or `-r requirements.txt`. */
  readonly pip: readonly string[];
  /** Checks the fresh venv's install (its python given); throws if it is not what was pinned. */
  readonly check: (python: string) => Promise<void>;
  /** The npm script that installs it by hand, for the error a failed install throws. */
  readonly script: string;
}

/** The tool's folder. */
export const toolDir = (name: string) => join(repoRoot, '.dogear', 'tools', name);

/**
 * Installs `tool` unless its venv already holds the stamp, and returns the venv's python. A venv
 * survives `fillOnce`'s rename: its python finds pyvenv.cfg beside itself, so tools are started
 * through it (`python -m …`), never by a script whose #! line names the staging folder.
 */
export async function installPythonTool(tool: PythonTool): Promise<string> {
  const dir = toolDir(tool.name);
  const started = performance.now();
  let installed: boolean;
  try {
    installed = await fillOnce(dir, tool.stamp, async (staging) => {
      await checkPython(tool.minPython);
      await run(python3, ['-m', 'venv', staging]);
      await run(venvPython(staging), [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-input',
        '--quiet',
        ...tool.pip,
      ]);
      await tool.check(venvPython(staging));
    });
  } catch (error) {
    throw new Error(
      `Could not install ${tool.stamp} into ${relative(process.cwd(), dir)}: ${(error as Error).message}\n${tool.stamp} needs Python ${tool.minPython.join('.')}+ with venv and pip (Debian/Ubuntu: apt-get install python3-venv; another interpreter: DOGEAR_PYTHON=/path/to/python3) and access to PyPI; install it with \`npm run ${tool.script}\` (it makes ${relative(repoRoot, dir)}/)`,
      { cause: error },
    );
  }
  if (installed) {
    process.stderr.write(
      `[${tool.name}] installed ${tool.stamp} from PyPI in ${((performance.now() - started) / 1000).toFixed(1)}s (${relative(process.cwd(), dir)})\n`,
    );
  }
  return venvPython(dir);
}

async function checkPython([wantMajor, wantMinor]: readonly [number, number]): Promise<void> {
  const version = await run(python3, [
    '-c',
    'import sys; print("%d.%d" % sys.version_info[:2])',
  ]).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ENOENT' ? new Error(`${python3} was not found`) : error;
  });
  const [major = 0, minor = 0] = version.trim().split('.').map(Number);
  if (major < wantMajor || (major === wantMajor && minor < wantMinor))
    throw new Error(`${python3} is Python ${version.trim()}`);
}

/** A command's exit code and output, read to the end. */
export function capture(
  command: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.once('error', reject);
    // 'close' rather than 'exit': it waits for stdout and stderr to be fully read.
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a command to completion and returns its stdout; on failure the error carries its output. */
export async function run(command: string, args: readonly string[]): Promise<string> {
  const { code, stdout, stderr } = await capture(command, args);
  if (code !== 0) {
    throw new Error(
      `\`${command} ${args.join(' ')}\` exited with code ${code}:\n${(stderr + stdout).trim()}`,
    );
  }
  return stdout;
}
