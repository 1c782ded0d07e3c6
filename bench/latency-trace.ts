/**
 * What a recording of bench/latency-proxy.ts says, reckoned after the run: requests and units,
 * the lane (Kafka partition) each request served, the round trips on each lane's critical path,
 * and a replay of the trace with the same concurrency and no processing (the floor).
 */
import { CapacityRules } from './capacity.ts';
import type { Exchange } from './latency-proxy.ts';

/** The partition a table key (`pk`) belongs to; undefined when the bench does not know it. */
export type LaneOf = (pk: string) => number | undefined;

/** The replay lane of a request whose keys belong to several partitions. */
export const SEVERAL_LANES = -1;

export interface Traced extends Exchange {
  /** The Kafka partitions the request served, in order. */
  readonly lanes: readonly number[];
  /** The one partition it served, or `SEVERAL_LANES`: the replay sends those in a lane of their own. */
  readonly lane: number;
}

export interface Tally {
  /** HTTP requests, each attempt of a retried call included. */
  requests: number;
  byAction: Record<string, number>;
  /** Answers other than 200, by `<action> <error type>`. */
  failures: Record<string, number>;
  /** Items in the `TransactWriteItems` that succeeded. */
  transactItems: number;
  /** By AWS's rules (bench/capacity.ts), for the requests that succeeded. */
  writeUnits: number;
  readUnits: number;
  /** The proxy's added wait, on average (its timer may overshoot the latency asked for). */
  meanDelayMs: number;
  /** DynamoDB Local's own time per answer, on average, by action (after the proxy's wait). */
  meanUpstreamMs: Record<string, number>;
}

type Json = Record<string, unknown>;

export function tallyOf(exchanges: readonly Exchange[]): Tally {
  const rules = new CapacityRules();
  const tally: Tally = {
    requests: 0,
    byAction: {},
    failures: {},
    transactItems: 0,
    writeUnits: 0,
    readUnits: 0,
    meanDelayMs: 0,
    meanUpstreamMs: {},
  };
  for (const ex of exchanges) {
    tally.requests++;
    tally.byAction[ex.action] = (tally.byAction[ex.action] ?? 0) + 1;
    tally.meanDelayMs += ex.delayMs / exchanges.length;
    tally.meanUpstreamMs[ex.action] = (tally.meanUpstreamMs[ex.action] ?? 0) + ex.upstreamMs;
    if (ex.status !== 200) {
      const type = String(parse(ex.response).__type ?? `HTTP ${ex.status}`)
        .split('#')
        .pop();
      const name = `${ex.action} ${type}`;
      tally.failures[name] = (tally.failures[name] ?? 0) + 1;
      continue;
    }
    const units = rules.unitsOf(ex.action, parse(ex.body), parse(ex.response));
    tally.transactItems += units.transactItems;
    tally.writeUnits += units.write;
    tally.readUnits += units.read;
  }
  for (const [action, count] of Object.entries(tally.byAction)) {
    tally.meanUpstreamMs[action]! /= count;
  }
  return tally;
}

/**
 * Each exchange with its lane, from the keys in its body: every `pk` it names, whatever the
 * action (GetItem's `Key`, a transaction's items, BatchGetItem's `Keys`). A key the bench cannot
 * place fails the run: the model would be wrong.
 */
export function traceOf(exchanges: readonly Exchange[], laneOf: LaneOf): Traced[] {
  return exchanges.map((ex) => {
    const lanes = new Set<number>();
    for (const pk of keysIn(parse(ex.body))) {
      const lane = laneOf(pk);
      if (lane === undefined) {
        throw new Error(`${ex.action} names key ${pk}, whose partition the bench does not know`);
      }
      lanes.add(lane);
    }
    if (lanes.size === 0) throw new Error(`${ex.action} names no key: no lane for it`);
    const sorted = [...lanes].sort((a, b) => a - b);
    return { ...ex, lanes: sorted, lane: sorted.length === 1 ? sorted[0]! : SEVERAL_LANES };
  });
}

/** Every `pk: { S }` anywhere in a request. */
function keysIn(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) keysIn(v, into);
  } else if (typeof value === 'object' && value !== null) {
    for (const [name, v] of Object.entries(value)) {
      const s = (v as { S?: unknown } | null)?.S;
      if (name === 'pk' && typeof s === 'string') into.push(s);
      else keysIn(v, into);
    }
  }
  return into;
}

/**
 * One lane's requests of one invocation in waves: a request joins the current wave when it
 * arrived before the first answer of the wave went back, so it cannot have waited on any of
 * them; otherwise it starts the next wave. Each wave is one round trip.
 */
export function wavesOf(requests: readonly Traced[]): Traced[][] {
  const sorted = [...requests].sort((a, b) => a.startMs - b.startMs);
  const waves: Traced[][] = [];
  let wave: Traced[] = [];
  let firstEnd = Number.POSITIVE_INFINITY;
  for (const r of sorted) {
    if (wave.length > 0 && r.startMs >= firstEnd) {
      waves.push(wave);
      wave = [];
      firstEnd = Number.POSITIVE_INFINITY;
    }
    wave.push(r);
    firstEnd = Math.min(firstEnd, r.endMs);
  }
  if (wave.length > 0) waves.push(wave);
  return waves;
}

export interface LanePath {
  readonly requests: number;
  readonly roundTrips: number;
  readonly waves: Traced[][];
}

export interface InvocationPath {
  readonly invocation: number;
  readonly lanes: ReadonlyMap<number, LanePath>;
  /** The longest lane's round trips: the invocation waits for it. */
  readonly roundTrips: number;
}

export interface CriticalPath {
  readonly invocations: readonly InvocationPath[];
  /** Σ over invocations of the longest lane's round trips. */
  readonly roundTrips: number;
  readonly requests: number;
  /** Requests that served several partitions: each counts on every partition it served. */
  readonly shared: number;
}

/**
 * Invocations one after another; within one, lanes side by side, each a chain of waves. A
 * request serving several partitions is on each of their paths: each of them waited for it.
 */
export function criticalPathOf(trace: readonly Traced[]): CriticalPath {
  const invocations = [...groupBy(trace, (r) => [r.invocation]).entries()]
    .sort(([a], [b]) => a - b)
    .map(([invocation, requests]) => {
      const paths = new Map<number, LanePath>();
      const lanes = [...groupBy(requests, (r) => r.lanes).entries()].sort(([a], [b]) => a - b);
      for (const [lane, requests] of lanes) {
        const waves = wavesOf(requests);
        paths.set(lane, { requests: requests.length, roundTrips: waves.length, waves });
      }
      const roundTrips = Math.max(...[...paths.values()].map((p) => p.roundTrips));
      return { invocation, lanes: paths, roundTrips };
    });
  return {
    invocations,
    roundTrips: invocations.reduce((n, i) => n + i.roundTrips, 0),
    requests: trace.length,
    shared: trace.filter((r) => r.lanes.length > 1).length,
  };
}

function groupBy(
  requests: readonly Traced[],
  keys: (r: Traced) => readonly number[],
): Map<number, Traced[]> {
  const groups = new Map<number, Traced[]>();
  for (const r of requests) {
    for (const key of keys(r)) {
      const group = groups.get(key);
      if (group) group.push(r);
      else groups.set(key, [r]);
    }
  }
  return groups;
}

/** The model: every round trip on the critical path takes `latencyMs`, plus the in-memory CPU. */
export function modeledMs(path: CriticalPath, latencyMs: number, cpuMs: number): number {
  return path.roundTrips * latencyMs + cpuMs;
}

/** A replay ready to send: bodies rewritten for the fresh table, before any timing. */
export interface ReplayPlan {
  readonly invocations: ReadonlyArray<ReadonlyArray<ReadonlyArray<ReadonlyArray<Planned>>>>;
  readonly requests: number;
}

interface Planned {
  readonly recorded: Traced;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * The trace's requests against `toTable` instead of `fromTable`, each transaction with a new
 * `ClientRequestToken` (DynamoDB would take a reused one for a retry of the first). Each request
 * is sent once, in its replay lane: a request serving several partitions in a lane of its own.
 */
export function planReplay(
  trace: readonly Traced[],
  fromTable: string,
  toTable: string,
): ReplayPlan {
  const rename = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rename);
    if (typeof value !== 'object' || value === null) return value;
    const out: Json = {};
    for (const [name, v] of Object.entries(value)) {
      if (name === 'TableName' && v === fromTable) out[name] = toTable;
      else if (name === 'ClientRequestToken') out[name] = crypto.randomUUID();
      else if (name === 'RequestItems' || name === 'UnprocessedKeys') {
        const items: Json = {};
        for (const [table, w] of Object.entries(v as Json)) {
          items[table === fromTable ? toTable : table] = rename(w);
        }
        out[name] = items;
      } else out[name] = rename(v);
    }
    return out;
  };
  const invocations = [...groupBy(trace, (r) => [r.invocation]).entries()]
    .sort(([a], [b]) => a - b)
    .map(([, requests]) =>
      [...groupBy(requests, (r) => [r.lane]).values()].map((lane) =>
        wavesOf(lane).map((wave) =>
          wave.map((recorded) => ({
            recorded,
            headers: recorded.headers,
            body: JSON.stringify(rename(parse(recorded.body))),
          })),
        ),
      ),
    );
  return { invocations, requests: trace.length };
}

/**
 * Sends the plan to `url` (the proxy, so each request waits as long as it did in the run):
 * invocations one after another, lanes in parallel, each lane's waves in order, a wave's
 * requests together. Fails when an answer's status differs from the recorded one.
 */
export async function replay(plan: ReplayPlan, url: string): Promise<void> {
  const differing: string[] = [];
  for (const lanes of plan.invocations) {
    await Promise.all(
      lanes.map(async function replayLane(waves) {
        for (const wave of waves) {
          await Promise.all(
            wave.map(async function replayRequest({ recorded, headers, body }) {
              const response = await fetch(url, { method: 'POST', headers, body });
              const text = await response.text();
              if (response.status !== recorded.status) {
                differing.push(`${recorded.action}: ${response.status} (${text.slice(0, 200)})`);
              }
            }),
          );
        }
      }),
    );
  }
  if (differing.length > 0) {
    throw new Error(
      `replay: ${differing.length} answers differ from the run's, e.g. ${differing.slice(0, 3).join('; ')}`,
    );
  }
}

function parse(text: string): Json {
  if (!text) return {};
  try {
    return JSON.parse(text) as Json;
  } catch {
    return {};
  }
}
