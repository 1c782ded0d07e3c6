import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { defineConfig, type Plugin } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

/**
 * Vite's own transformer does not lower TC39 decorators yet; esbuild does, the same way
 * `dogear build` and tsx do, so tests run the code users deploy.
 */
const decorators: Plugin = {
  name: 'dogear:decorators',
  enforce: 'pre',
  async transform(code, id) {
    if (!id.endsWith('.ts') || !/^\s*@\w+\(/m.test(code)) return null;
    const result = await transform(code, {
      loader: 'ts',
      target: 'es2022',
      sourcemap: true,
      sourcefile: id,
    });
    return { code: result.code, map: result.map };
  },
};

export default defineConfig({
  plugins: [decorators],
  resolve: {
    alias: [
      { find: /^dogear$/, replacement: src('index.ts') },
      { find: /^dogear\/(testing|runtime)$/, replacement: src('$1/index.ts') },
    ],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: ['default', './test/setup/durations.ts'],
    globalSetup: ['test/setup/dynamodb.ts', 'test/setup/kafka.ts'],
  },
});
