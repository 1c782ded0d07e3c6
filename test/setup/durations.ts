import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * After the default reporter's lines, one table of every file's time, slowest first, so a file
 * that grows slow is seen at once; `npm test` must stay under 25 minutes on a 2-core machine.
 */
export default class FileDurations implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (modules.length === 0) return;
    const rows = modules
      .map((module) => {
        const { duration, collectDuration, setupDuration } = module.diagnostic();
        return {
          file: relative(process.cwd(), module.moduleId),
          ms: duration + collectDuration + setupDuration,
          state: module.state(),
        };
      })
      .sort((a, b) => b.ms - a.ms);
    const width = Math.max(...rows.map((row) => row.file.length));
    const lines = rows.map(
      (row) =>
        `  ${row.file.padEnd(width)}  ${(row.ms / 1000).toFixed(1).padStart(7)} s${row.state === 'passed' ? '' : `  ${row.state}`}`,
    );
    const total = rows.reduce((sum, row) => sum + row.ms, 0);
    process.stdout.write(
      `\nTime per test file, slowest first (${(total / 1000).toFixed(0)} s in all):\n${lines.join('\n')}\n`,
    );
  }
}
