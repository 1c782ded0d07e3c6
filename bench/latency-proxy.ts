/**
 * An HTTP proxy in front of DynamoDB Local that waits `latencyMs` before forwarding each
 * request: DynamoDB as far away as a region's round trip, on this machine. It is also the meter:
 * every exchange it forwards lands, raw, in the current recording (action, headers, body,
 * response, status, when it arrived and when it was answered), and all reckoning of lanes and
 * units happens after the timed run.
 *
 * It runs in a worker thread, with its own event loop: its timers and forwarding do not wait
 * behind the consumer being measured, as they would on the consumer's thread.
 */
import { Agent, createServer, request as forward, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

/** One request through the proxy and its answer. Times are epoch ms, to the microsecond. */
export interface Exchange {
  /** `GetItem`, from `x-amz-target: DynamoDB_20120810.GetItem`. */
  readonly action: string;
  /** The index of the event being handled when it arrived (-1: before the first). */
  readonly invocation: number;
  /** When the whole request had arrived. */
  readonly startMs: number;
  /** When the whole answer had been handed back. */
  readonly endMs: number;
  /** The wait actually added (a timer's, which may overshoot `latencyMs`). */
  readonly delayMs: number;
  /** From forwarding to DynamoDB Local's whole answer. */
  readonly upstreamMs: number;
  readonly status: number;
  /** The request headers a replay needs (all but host, length and connection). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly response: string;
}

/** What the run says while the proxy records: when each invocation began. */
export class Recording {
  private readonly starts: Array<{ index: number; atMs: number }> = [];

  /** Called just before event `index` goes into the handler. */
  markInvocation(index: number): void {
    this.starts.push({ index, atMs: now() });
  }

  /** Each exchange tagged with the invocation it arrived in. */
  tag(exchanges: ReadonlyArray<Omit<Exchange, 'invocation'>>): Exchange[] {
    return exchanges.map((ex) => {
      let invocation = -1;
      for (const start of this.starts) if (start.atMs <= ex.startMs) invocation = start.index;
      return { ...ex, invocation };
    });
  }
}

export interface LatencyProxy {
  readonly url: string;
  readonly latencyMs: number;
  /** Milliseconds each later request waits before it is forwarded. */
  setLatency(ms: number): Promise<void>;
  /** Starts a recording: every later exchange goes into it until `stop`. */
  record(): Promise<Recording>;
  /** Ends the recording; its exchanges, in the order they were answered. */
  stop(): Promise<Exchange[]>;
  /** Exchanges forwarded while nothing was recording (should be none). */
  unrecorded(): Promise<number>;
  close(): Promise<void>;
}

type Order =
  | { type: 'latency'; ms: number }
  | { type: 'record' }
  | { type: 'stop' }
  | { type: 'unrecorded' };
type Command = Order & { id: number };

interface Reply {
  id: number;
  url?: string;
  exchanges?: Array<Omit<Exchange, 'invocation'>>;
  unrecorded?: number;
}

const now = () => performance.timeOrigin + performance.now();

/** Starts the proxy's worker and waits until it listens. */
export async function startLatencyProxy(target: string, latencyMs: number): Promise<LatencyProxy> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { target, latencyMs } });
  const waiting = new Map<number, (reply: Reply) => void>();
  let failed: Error | undefined;
  worker.on('message', (reply: Reply) => {
    waiting.get(reply.id)?.(reply);
    waiting.delete(reply.id);
  });
  worker.on('error', (error) => {
    failed = error;
    for (const resolve of waiting.values()) resolve({ id: -1 });
  });
  const reply = (id: number) =>
    new Promise<Reply>((resolve) => waiting.set(id, resolve)).then((r) => {
      if (failed) throw new Error(`latency proxy: ${failed.message}`, { cause: failed });
      return r;
    });
  let next = 1;
  const call = (command: Order) => {
    const id = next++;
    const answered = reply(id);
    worker.postMessage({ ...command, id });
    return answered;
  };
  const { url } = await reply(0);
  let recording: Recording | undefined;
  let current = latencyMs;
  return {
    url: url!,
    get latencyMs() {
      return current;
    },
    async setLatency(ms) {
      await call({ type: 'latency', ms });
      current = ms;
    },
    async record() {
      await call({ type: 'record' });
      recording = new Recording();
      return recording;
    },
    async stop() {
      const { exchanges = [] } = await call({ type: 'stop' });
      const tagged = recording ? recording.tag(exchanges) : [];
      recording = undefined;
      return tagged;
    },
    async unrecorded() {
      return (await call({ type: 'unrecorded' })).unrecorded ?? 0;
    },
    async close() {
      await worker.terminate();
    },
  };
}

const HOP_BY_HOP = new Set(['host', 'content-length', 'connection', 'keep-alive']);

/** The worker: the server, and the commands of the thread that started it. */
async function serve(target: string, initialLatencyMs: number): Promise<void> {
  const to = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let latencyMs = initialLatencyMs;
  let exchanges: Array<Omit<Exchange, 'invocation'>> | undefined;
  let unrecorded = 0;

  const server = createServer(async function latencyProxyExchange(req, res) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const startMs = now();
    const into = exchanges;
    await sleep(latencyMs);
    const forwardedMs = now();
    try {
      const answer = await send(to, agent, req, body);
      const upstreamMs = now() - forwardedMs;
      const finished = new Promise<void>((resolve) => res.once('finish', resolve));
      res.writeHead(answer.status, { ...answer.headers, 'content-length': answer.body.length });
      res.end(answer.body);
      await finished;
      const target = String(req.headers['x-amz-target'] ?? '');
      const exchange = {
        action: target.slice(target.indexOf('.') + 1),
        startMs,
        endMs: now(),
        delayMs: forwardedMs - startMs,
        upstreamMs,
        status: answer.status,
        headers: replayHeaders(req.headers),
        body: body.toString('utf8'),
        response: answer.body.toString('utf8'),
      };
      if (into) into.push(exchange);
      else unrecorded++;
    } catch (error) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`latency proxy: ${(error as Error).message}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  parentPort!.on('message', (command: Command) => {
    const reply: Reply = { id: command.id };
    switch (command.type) {
      case 'latency':
        latencyMs = command.ms;
        break;
      case 'record':
        exchanges = [];
        break;
      case 'stop':
        reply.exchanges = exchanges ?? [];
        exchanges = undefined;
        break;
      case 'unrecorded':
        reply.unrecorded = unrecorded;
        break;
    }
    parentPort!.postMessage(reply);
  });
  parentPort!.postMessage({ id: 0, url: `http://127.0.0.1:${port}` } satisfies Reply);
}

function send(
  to: URL,
  agent: Agent,
  req: { method?: string; url?: string; headers: IncomingHttpHeaders },
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const outgoing = forward(
      {
        host: to.hostname,
        port: to.port,
        method: req.method ?? 'POST',
        path: req.url ?? '/',
        agent,
        headers: { ...req.headers, host: to.host, 'content-length': body.length },
      },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.on('error', reject);
        incoming.on('end', () => {
          const kept: Record<string, string | string[]> = {};
          for (const [name, value] of Object.entries(incoming.headers)) {
            if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'transfer-encoding') {
              kept[name] = value;
            }
          }
          resolve({
            status: incoming.statusCode ?? 502,
            headers: kept,
            body: Buffer.concat(chunks),
          });
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

function replayHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string' && !HOP_BY_HOP.has(name)) kept[name] = value;
  }
  return kept;
}

if (!isMainThread && (workerData as { target?: string } | null)?.target) {
  const { target, latencyMs } = workerData as { target: string; latencyMs: number };
  await serve(target, latencyMs);
}
