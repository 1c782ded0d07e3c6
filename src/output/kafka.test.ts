import { describe, expect, test } from 'vitest';
import type { OutboxMessage } from '../state/index.ts';
import { OutputDeliveryError } from './errors.ts';
import { deliveryError, headersSent } from './kafka.ts';

const message = (to: string, index: number): OutboxMessage => ({
  to,
  key: null,
  value: Buffer.from('v').toString('base64'),
  headers: [['dogear-origin', Buffer.from('upstream|t|0|1|0').toString('base64')]],
  origin: `g|t|0|5|${index}`,
});

describe('deliveryError', () => {
  test('an ACL denial names the message and points at emits (the test broker has no authorizer)', () => {
    // The shape @platformatic/kafka throws when a broker answers TOPIC_AUTHORIZATION_FAILED.
    const denied = Object.assign(new Error('Topic authorization failed.'), {
      apiId: 'TOPIC_AUTHORIZATION_FAILED',
    });
    const error = deliveryError(
      new AggregateError([denied], 'Producing messages failed.'),
      [message('alerts', 0), message('alerts', 1)],
      ['b-1:9098'],
    );
    expect(error).toBeInstanceOf(OutputDeliveryError);
    expect(error.origin).toBe('g|t|0|5|0');
    expect(error.to).toBe('alerts');
    expect(error.message).toBe(
      "Kafka denied writing g|t|0|5|0 to topic 'alerts' (TOPIC_AUTHORIZATION_FAILED); list it in the consumer's `emits`: the plugin grants write on listed topics",
    );
  });
});

test('headersSent: the message headers in order, then its own origin in place of one it carried', () => {
  expect(headersSent(message('alerts', 3)).map(([n, v]) => [n, v?.toString()])).toEqual([
    ['dogear-origin', 'g|t|0|5|3'],
  ]);
});
