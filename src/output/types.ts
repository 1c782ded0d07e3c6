import type { OutboxMessage } from '../state/index.ts';

/**
 * Delivers what commits left in the outbox. At least once: a message may arrive twice (a relay
 * that died after sending and before the outbox was cleared is repeated), never lost, and the
 * messages of one call reach each destination partition in the order given.
 */
export interface OutboxRelay {
  /** Sends every message; throws, naming the message's origin, if any was not delivered. */
  send(messages: readonly OutboxMessage[]): Promise<void>;
  /** Releases connections; the relay is not used after. */
  close(): Promise<void>;
}
