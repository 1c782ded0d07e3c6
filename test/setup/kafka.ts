import type { TestProject } from 'vitest/node';
import { type KafkaSaslListener, type KafkaTlsListener, startKafka } from '../../infra/kafka.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    /** The broker's SASL listener and its user; null on an external cluster. */
    kafkaSasl: KafkaSaslListener | null;
    /** The broker's TLS listener and the CA file that trusts it; null on an external cluster. */
    kafkaTls: KafkaTlsListener | null;
  }
}

/**
 * One real Kafka broker for the whole run (or the cluster named by KAFKA_BROKERS); tests read its
 * address with `inject('kafkaBrokers')` and use their own topics and groups.
 */
export default async function setup(project: TestProject) {
  const started = performance.now();
  const kafka = await startKafka();
  process.stderr.write(
    `Kafka on ${kafka.brokers} (${Math.round(performance.now() - started)} ms)\n`,
  );
  project.provide('kafkaBrokers', kafka.brokers);
  project.provide('kafkaSasl', kafka.sasl ?? null);
  project.provide('kafkaTls', kafka.tls ?? null);
  return () => kafka.stop();
}
