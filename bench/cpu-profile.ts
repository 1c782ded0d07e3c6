/**
 * Summarises a `.cpuprofile` (from `node --cpu-prof`) without a profiler GUI: where the time
 * goes, as a share of the sampled time, the largest first.
 *
 *   npx tsx bench/cpu-profile.ts <file.cpuprofile>                 self time per function
 *   npx tsx bench/cpu-profile.ts <file.cpuprofile> --lines         self time per source line
 *   npx tsx bench/cpu-profile.ts <file.cpuprofile> --by add,commit time per phase, callees in
 *
 * `--lines` needs code that keeps its lines: tsx puts a module on one line, so profile dist/
 * (bench/word-count.profile.ts does). `--by` gives each sample to the innermost of the named
 * functions on its stack, or to "other"; code after an `await` runs from the microtask queue,
 * so it counts under the async function it is in, not under that function's callers.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  positionTicks?: Array<{ line: number; ticks: number }>;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '40' },
    lines: { type: 'boolean', default: false },
    by: { type: 'string' },
  },
});
const file = positionals[0];
if (!file) {
  throw new Error(
    'usage: npx tsx bench/cpu-profile.ts <file.cpuprofile> [--top 40] [--lines] [--by f,g]',
  );
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const totalUs = profile.timeDeltas.reduce((a, b) => a + b, 0);

const shortUrl = (url: string) =>
  url.replace(/^.*\/(src|dist|bench|functions|test|node_modules)\//, '$1/');
const nameOf = (node: ProfileNode) => node.callFrame.functionName || '(anonymous)';

/** Adds each sample's time to the row `rowOf` names for its node. */
function bySample(rowOf: (node: ProfileNode) => string): Map<string, number> {
  const us = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const row = rowOf(nodes.get(profile.samples[i]!)!);
    us.set(row, (us.get(row) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  return us;
}

/** A node's samples spread over its lines by V8's position ticks, at the mean sample time. */
function byLine(): Map<string, number> {
  const perTickUs = totalUs / profile.samples.length;
  const us = new Map<string, number>();
  for (const node of profile.nodes) {
    for (const { line, ticks } of node.positionTicks ?? []) {
      const row = `${shortUrl(node.callFrame.url)}:${line} ${nameOf(node)}`;
      us.set(row, (us.get(row) ?? 0) + ticks * perTickUs);
    }
  }
  return us;
}

function byPhase(names: ReadonlySet<string>): Map<string, number> {
  const parent = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node);
  }
  return bySample((leaf) => {
    for (let node: ProfileNode | undefined = leaf; node; node = parent.get(node.id)) {
      if (names.has(node.callFrame.functionName)) return node.callFrame.functionName;
    }
    return 'other';
  });
}

const rows = values.by
  ? byPhase(new Set(values.by.split(',')))
  : values.lines
    ? byLine()
    : bySample((node) => {
        const { url, lineNumber } = node.callFrame;
        return url ? `${nameOf(node)} ${shortUrl(url)}:${lineNumber + 1}` : nameOf(node);
      });

console.log(`${(totalUs / 1000).toFixed(0)} ms sampled`);
const top = [...rows].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
for (const [row, us] of top) {
  const share = `${((100 * us) / totalUs).toFixed(1)}%`.padStart(6);
  console.log(`${share}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${row}`);
}
