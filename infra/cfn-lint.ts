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
import { relative } from 'node:path';
import { capture, installPythonTool, run, toolDir } from './python-tool.ts';
import { runAsScript } from './script.ts';

/** The release on PyPI (https://pypi.org/project/cfn-lint/); a new pin installs a new venv. */
export const CFN_LINT_VERSION = '1.58.0';
/** cfn-lint 1.58 runs on Python 3.10 to 3.14 (its PyPI page). */
const MIN_PYTHON = [3, 10] as const;

const venvDir = toolDir('cfn-lint');
/** cfn-lint's console script, run by the venv's python: the script's #! line names the venv's old path. */
const CFN_LINT = ['-c', 'import sys; from cfnlint.runner import main; sys.exit(main())'];

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

function install(): Promise<string> {
  return installPythonTool({
    name: 'cfn-lint',
    stamp: CFN_LINT_VERSION,
    minPython: MIN_PYTHON,
    pip: [`cfn-lint==${CFN_LINT_VERSION}`],
    script: 'cfn-lint',
    async check(python) {
      const version = await run(python, [...CFN_LINT, '--version']);
      if (!version.includes(CFN_LINT_VERSION))
        throw new Error(`the venv's cfn-lint reports ${version.trim()}`);
    },
  });
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

runAsScript(import.meta.url, main);
