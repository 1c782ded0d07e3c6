/** What the infra modules share as command-line scripts: timing, one-time stops, a main. */
import { pathToFileURL } from 'node:url';

/** `12.3s` since `start` (a `performance.now()`). */
export function secondsSince(start: number): string {
  return `${((performance.now() - start) / 1000).toFixed(1)}s`;
}

/** `fn` run at most once: later calls get the first call's promise. */
export function onlyOnce(fn: () => Promise<void>): () => Promise<void> {
  let result: Promise<void> | undefined;
  return () => {
    result ??= fn();
    return result;
  };
}

/**
 * Runs `main` when the module at `moduleUrl` is the script node was started with (`npx tsx
 * infra/<name>.ts`), printing a failure's message and exiting 1.
 */
export function runAsScript(moduleUrl: string, main: () => Promise<void>): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
