/**
 * The example consumers import `'dogear'`, which Node resolves through package.json's exports
 * to `dist/`: a build that may be older than `src/`, and a second copy of the runtime beside
 * the one the benchmarks import from `../src`. This points `'dogear'` (and `'dogear/<sub>'`) at
 * `src/` instead, as vitest.config.ts does for the tests, so a benchmark measures the working
 * tree, all of it one copy. Call it before importing anything that imports `'dogear'`.
 */
import * as nodeModule from 'node:module';

const SUBPATHS = new Set(['testing', 'runtime', 'schema']);

export function resolveDogearToSource(): void {
  const registerHooks = (nodeModule as Partial<typeof nodeModule>).registerHooks;
  if (!registerHooks) {
    throw new Error(
      `bench needs module.registerHooks (Node >= 22.15); this is Node ${process.versions.node}. Run it with \`npm run bench\`, which uses the project's Node 24.`,
    );
  }
  registerHooks({
    resolve(specifier, context, next) {
      if (specifier === 'dogear') {
        return { url: new URL('../src/index.ts', import.meta.url).href, shortCircuit: true };
      }
      const sub = /^dogear\/(\w+)$/.exec(specifier)?.[1];
      if (sub && SUBPATHS.has(sub)) {
        return { url: new URL(`../src/${sub}/index.ts`, import.meta.url).href, shortCircuit: true };
      }
      return next(specifier, context);
    },
  });
}
