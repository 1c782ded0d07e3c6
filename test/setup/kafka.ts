/**
 * Vitest globalSetup: one real Kafka broker for the whole test run (or the cluster named by
 * KAFKA_BROKERS). Tests read its address with `inject('kafkaBrokers')`.
 */
import type { TestProject } from 'vitest/node';
import { startKafka } from '../../infra/kafka.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const kafka = await startKafka();
  project.provide('kafkaBrokers', kafka.brokers);
  return () => kafka.stop();
}
