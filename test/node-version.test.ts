import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/dogear.js', import.meta.url));
/** The machine's own Node (20 here), not the Node 24 that npm puts first on the PATH. */
const SYSTEM_NODE = '/usr/bin/node';

describe('the CLI on a Node older than 22', () => {
  it('refuses at once, naming the version it found and how to get a newer one', () => {
    const version = spawnSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
    expect(Number(version.slice(1).split('.')[0]), `${SYSTEM_NODE} is ${version}`).toBeLessThan(22);
    const run = spawnSync(SYSTEM_NODE, [BIN, 'invoke', 'word-count'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`dogear needs Node 22 or later`);
    expect(run.stderr).toContain(`this is Node ${version.slice(1)}`);
    expect(run.stderr).toContain('npm i -D node@24');
  });

  it('runs on the Node 24 that npm installs', () => {
    const run = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
