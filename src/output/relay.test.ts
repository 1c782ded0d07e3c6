import { describe, expect, test } from 'vitest';
import type { OutboxMessage } from '../state/index.ts';
import { OutputConfigError } from './errors.ts';
import { environmentRelay, outboxRelay } from './relay.ts';
import type { OutboxRelay } from './types.ts';

const message = (to: string, index: number): OutboxMessage => ({
  to,
  key: null,
  value: null,
  headers: [],
  origin: `g|t|0|5|${index}`,
});

/** A relay that remembers what it was given, call by call. */
function recording() {
  const calls: string[][] = [];
  let closed = 0;
  const relay: OutboxRelay = {
    async send(messages) {
      calls.push(messages.map((m) => m.origin));
    },
    async close() {
      closed++;
    },
  };
  return { relay, calls, closed: () => closed };
}

describe('outboxRelay', () => {
  test('every message to a topic goes to Kafka in one send, in order', async () => {
    const kafka = recording();
    const relay = outboxRelay({ kafka: kafka.relay, aws: { endpoint: 'http://127.0.0.1:1' } });
    await relay.send([message('alerts', 0), message('alerts', 1), message('other', 2)]);
    expect(kafka.calls).toEqual([['g|t|0|5|0', 'g|t|0|5|1', 'g|t|0|5|2']]);
  });

  test('the Kafka relay is made on the first message to a topic, not before', async () => {
    let made = 0;
    const kafka = recording();
    const relay = outboxRelay({
      kafka: () => {
        made++;
        return kafka.relay;
      },
    });
    await relay.send([]);
    expect(made).toBe(0);
    await relay.send([message('alerts', 0)]);
    await relay.send([message('alerts', 1)]);
    expect(made).toBe(1);
    await relay.close();
    expect(kafka.closed()).toBe(1);
  });

  test('a destination without a route fails before anything is sent', async () => {
    const kafka = recording();
    const relay = outboxRelay({ kafka: kafka.relay });
    const queue = 'arn:aws:sqs:eu-west-1:123456789012:dead';
    await expect(relay.send([message('alerts', 0), message(queue, 1)])).rejects.toThrow(
      new OutputConfigError(
        `g|t|0|5|1 is addressed to '${queue}', an SQS ARN, but the relay has no route for it; pass outboxRelay({ aws })`,
      ),
    );
    expect(kafka.calls).toEqual([]);
    await expect(outboxRelay({}).send([message('alerts', 0)])).rejects.toThrow(
      "g|t|0|5|0 is addressed to 'alerts', a Kafka topic, but the relay has no route for it; pass outboxRelay({ kafka })",
    );
  });

  test('an ARN that is neither a queue nor a bucket is named', async () => {
    const relay = outboxRelay({ kafka: recording().relay, aws: {} });
    await expect(relay.send([message('arn:aws:sns:eu-west-1:123456789012:t', 0)])).rejects.toThrow(
      "g|t|0|5|0 is addressed to 'arn:aws:sns:eu-west-1:123456789012:t', which is neither an SQS queue ARN",
    );
  });
});

describe('environmentRelay', () => {
  test('an event without bootstrapServers has no Kafka route; nothing connects before a message needs it', async () => {
    const relay = environmentRelay({}, {});
    await relay.send([]);
    await expect(relay.send([message('alerts', 0)])).rejects.toThrow(
      "g|t|0|5|0 is addressed to 'alerts', a Kafka topic, but the relay has no route for it",
    );
    // With brokers, the relay is made but connects only on send: closing it touches no broker.
    await environmentRelay({ bootstrapServers: '127.0.0.1:1' }, {}).close();
  });
});
