/**
 * One cold start, in a fresh `node` process that bench/cold-start.ts spawns: reads the event,
 * imports the bundle, calls its `handler` once (unless `import-only`), writes its timings as one
 * JSON line to fd 3, and exits. Plain JavaScript, so no TypeScript loader runs before the bundle.
 *
 *   node bench/cold-start-child.mjs <bundle.mjs> <event.json> <function name> invoke|import-only
 *   (fd 3: a pipe)
 *
 * Every time is `performance.now()`: milliseconds since this process's time origin (its start).
 */
import { readFileSync, writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const started = performance.now();
const [bundle, eventFile, functionName, mode] = process.argv.slice(2);
if (!bundle || !eventFile || !functionName || !['invoke', 'import-only'].includes(mode)) {
  throw new Error(
    'usage: cold-start-child.mjs <bundle.mjs> <event.json> <function name> invoke|import-only',
  );
}
// Lambda hands the handler a parsed event: parse it before the bundle is imported.
const event = JSON.parse(readFileSync(eventFile, 'utf8'));
const deadline = Date.now() + 900_000;
const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
  memoryLimitInMB: '1024',
  awsRequestId: crypto.randomUUID(),
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: 'cold-start',
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  done: () => {},
  fail: () => {},
  succeed: () => {},
};
const parsed = performance.now();

const { handler } = await import(pathToFileURL(bundle).href);
const imported = performance.now();
if (typeof handler !== 'function') throw new Error(`${bundle} exports no handler function`);
const result = mode === 'invoke' ? await handler(event, context) : undefined;
const handled = performance.now();

writeSync(
  3,
  `${JSON.stringify({
    startMs: started,
    eventMs: parsed - started,
    importMs: imported - parsed,
    invokeMs: handled - imported,
    totalMs: handled,
    result: result ?? null,
  })}\n`,
);
// Lambda would freeze the process here; nothing after the handler is measured.
process.exit(0);
