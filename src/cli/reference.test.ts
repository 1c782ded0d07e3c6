import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { cliReference } from './reference.ts';

test('docs/cli.md is the reference generated from the options table', () => {
  // When this fails, run `npm run docs:cli` and commit docs/cli.md.
  expect(readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8')).toBe(cliReference());
});
