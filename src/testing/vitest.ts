/**
 * `dogear/vitest`: what a project's vitest config needs to test dogear consumers in memory.
 * Its own entry point, so `dogear` and `dogear/testing` never load vitest or esbuild.
 */
import { transform } from 'esbuild';
import type { Plugin } from 'vitest/config';

const SCRIPT = /\.([cm]?[jt]s|[jt]sx)$/;
// A decorator at the start of a line, or after `export`/`default`/a brace or semicolon: how
// formatters lay them out. A false match only costs an esbuild pass; a miss fails to load.
const DECORATOR = /(?:^|[{};]|\bexport|\bdefault)[ \t]*@[A-Za-z_$]/m;

/**
 * The vitest (Vite) plugin that lowers TC39 decorators, which Vite's own transformer leaves in
 * place, with esbuild, as `dogear build` does, and with a source map, so stack traces point at
 * your lines. Only files that hold a decorator are touched.
 *
 * @example
 * // vitest.config.ts
 * import { dogear } from 'dogear/vitest';
 * import { defineConfig } from 'vitest/config';
 * export default defineConfig({ plugins: [dogear()] });
 */
export function dogear(): Plugin {
  const target = `node${process.versions.node.split('.')[0]}`;
  return {
    name: 'dogear',
    enforce: 'pre',
    async transform(code, id) {
      const file = id.split('?')[0]!;
      const extension = SCRIPT.exec(file)?.[1];
      if (!extension || file.startsWith('\0') || !DECORATOR.test(code)) return null;
      const result = await transform(code, {
        loader: extension.replace(/^[cm]/, '') as 'ts' | 'js' | 'tsx' | 'jsx',
        target,
        sourcemap: true,
        sourcefile: file,
      });
      return { code: result.code, map: result.map };
    },
  };
}
