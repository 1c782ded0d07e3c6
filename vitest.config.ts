import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { dogear } from './src/testing/vitest.ts';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // The plugin users get from dogear/vitest: the suites load decorated consumers as theirs do.
  plugins: [dogear()],
  resolve: {
    alias: [
      { find: /^dogear$/, replacement: src('index.ts') },
      { find: /^dogear\/(testing|runtime|schema)$/, replacement: src('$1/index.ts') },
    ],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: ['default', './test/setup/durations.ts'],
    globalSetup: ['test/setup/dynamodb.ts', 'test/setup/kafka.ts', 'test/setup/registries.ts'],
  },
});
