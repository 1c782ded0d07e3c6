/**
 * AWS's CloudFormation linter, cfn-lint from PyPI, pinned to one version in a virtualenv under
 * .dogear/tools/ (gitignored, kept between runs). test/serverless.test.ts lints every template
 * it packages with it.
 *
 * Library: `await ensureCfnLint()` installs it when missing; `lintTemplates(files, regions)`
 *          runs it and returns its findings.
 * Script:  `npx tsx infra/cfn-lint.ts [template.json …]` (or `npm run cfn-lint -- …`) installs it
 *          when missing, then lints the templates given, printing cfn-lint's own report.
 */
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fillOnce } from './stamped-folder.ts';

/** The release on PyPI (https://pypi.org/project/cfn-lint/); a new pin installs a new venv. */
export const CFN_LINT_VERSION = '1.58.0';
/** cfn-lint 1.58 runs on Python 3.10 to 3.14 (its PyPI page). */
const MIN_PYTHON = [3, 10] as const;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const venvDir = join(repoRoot, '.dogear', 'tools', 'cfn-lint');
const python3 = process.env.DOGEAR_PYTHON ?? 'python3';
/** cfn-lint's console script, run by the venv's python: the script's #! line names the venv's old path. */
const CFN_LINT = ['-c', 'import sys; from cfnlint.runner import main; sys.exit(main())'];
const venvPython = (venv: string) =>
  process.platform === 'win32' ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python');

/** How to install by hand, for the error an install that fails throws. */
const HOW_TO_INSTALL = `cfn-lint ${CFN_LINT_VERSION} needs Python ${MIN_PYTHON.join('.')}+ with venv and pip (Debian/Ubuntu: apt-get install python3-venv; another interpreter: DOGEAR_PYTHON=/path/to/python3) and access to PyPI; install it with \`npm run cfn-lint\` (it makes ${relative(repoRoot, venvDir)}/)`;

/** One finding of `cfn-lint --format json`. */
export interface CfnLintMatch {
  /** As given on the command line; null for a finding about no one template (E0003: no such file). */
  Filename: string | null;
  Level: 'Error' | 'Warning' | 'Informational';
  Message: string;
  Rule: { Id: string; ShortDescription: string; Source: string };
  Location: { Path: Array<string | number> | null; Start: { LineNumber: number } };
}

/**
 * The venv's python, with cfn-lint installed in it: installed on first use. An unfinished or
 * older install (no stamp naming this version) is replaced.
 */
export function ensureCfnLint(): Promise<string> {
  // Once per process: a failed install fails every later call the same way, without retrying.
  installing ??= install();
  return installing;
}

let installing: Promise<string> | undefined;

async function install(): Promise<string> {
  const started = performance.now();
  // A venv survives the rename: its python finds pyvenv.cfg beside itself, and cfn-lint is
  // started by that python (CFN_LINT), not by its script's #! line.
  let installed: boolean;
  try {
    installed = await fillOnce(venvDir, CFN_LINT_VERSION, async (staging) => {
      await checkPython();
      await run(python3, ['-m', 'venv', staging]);
      await run(venvPython(staging), [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-input',
        '--quiet',
        `cfn-lint==${CFN_LINT_VERSION}`,
      ]);
      const version = await run(venvPython(staging), [...CFN_LINT, '--version']);
      if (!version.includes(CFN_LINT_VERSION))
        throw new Error(`the venv's cfn-lint reports ${version.trim()}`);
    });
  } catch (error) {
    throw new Error(
      `Could not install cfn-lint ${CFN_LINT_VERSION} into ${relative(process.cwd(), venvDir)}: ${(error as Error).message}\n${HOW_TO_INSTALL}`,
      { cause: error },
    );
  }
  if (!installed) return venvPython(venvDir);
  process.stderr.write(
    `[cfn-lint] installed cfn-lint ${CFN_LINT_VERSION} from PyPI in ${((performance.now() - started) / 1000).toFixed(1)}s (${relative(process.cwd(), venvDir)})\n`,
  );
  return venvPython(venvDir);
}

/**
 * cfn-lint's findings on `files`, checked in each of `regions`. A file it cannot find or parse is
 * a finding too (E0003, E0000); it rejects only when cfn-lint does not finish (a crash).
 */
export async function lintTemplates(
  files: readonly string[],
  regions: readonly string[],
): Promise<CfnLintMatch[]> {
  if (files.length === 0) return []; // with none, cfn-lint would read a template from stdin
  const python = await ensureCfnLint();
  const { code, stdout, stderr } = await capture(python, [
    ...CFN_LINT,
    '--format',
    'json',
    '--regions',
    ...regions,
    '--',
    ...files,
  ]);
  // Exit codes are a bitmask of what was found: 2 errors, 4 warnings, 8 informational;
  // 1 (or anything else) means cfn-lint did not finish.
  if (code === null || (code & ~(2 | 4 | 8)) !== 0) {
    throw new Error(`cfn-lint exited with code ${code}:\n${(stderr || stdout).trim()}`);
  }
  return JSON.parse(stdout) as CfnLintMatch[];
}

/** `E3002 Resources/Fn/Properties/Runtime (line 12): <message>`: one finding, one line. */
export function formatMatch(match: CfnLintMatch): string {
  const path = match.Location.Path?.join('/') ?? '';
  return `${match.Rule.Id} ${path} (line ${match.Location.Start.LineNumber}): ${match.Message}`;
}

async function checkPython(): Promise<void> {
  const version = await run(python3, [
    '-c',
    'import sys; print("%d.%d" % sys.version_info[:2])',
  ]).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ENOENT' ? new Error(`${python3} was not found`) : error;
  });
  const [major = 0, minor = 0] = version.trim().split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1]))
    throw new Error(`${python3} is Python ${version.trim()}`);
}

function capture(
  command: string,
  args: string[],
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
async function run(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await capture(command, args);
  if (code !== 0) {
    throw new Error(
      `\`${command} ${args.join(' ')}\` exited with code ${code}:\n${(stderr + stdout).trim()}`,
    );
  }
  return stdout;
}

async function main(): Promise<void> {
  const python = await ensureCfnLint();
  const files = process.argv.slice(2);
  if (files.length === 0) {
    process.stdout.write(`cfn-lint ${CFN_LINT_VERSION} in ${relative(process.cwd(), venvDir)}\n`);
    return;
  }
  // cfn-lint's own report and exit code: 0 when clean, else the bitmask above.
  const child = spawn(python, [...CFN_LINT, '--', ...files], { stdio: 'inherit' });
  child.once('close', (code) => process.exit(code ?? 1));
}

const isScript = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isScript) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
