import type { TestProject } from 'vitest/node';
import { startConfluentRegistry } from '../../infra/confluent-registry.ts';
import { startGlueRegistry } from '../../infra/glue-registry.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** moto's server: the endpoint for signed Glue Schema Registry calls. */
    glueRegistryEndpoint: string;
    /** The region Glue calls are signed for; moto keeps one set of registries per region. */
    glueRegistryRegion: string;
    /** Apicurio's Confluent-compatible API, `http://127.0.0.1:<port>/apis/ccompat/v7`, no auth. */
    confluentRegistryUrl: string;
  }
}

// Started when vitest imports its global setup files, which it does all at once before it runs
// the first one's setup: so the registries start beside DynamoDB Local and Kafka instead of after
// them (Apicurio takes 5 to 15 s). `setup` reports a failure; until then nobody listens.
const began = performance.now();
const ready = <T>(registry: T) => ({ registry, at: performance.now() });
const starting = Promise.allSettled([
  startGlueRegistry().then(ready),
  startConfluentRegistry().then(ready),
]);

/**
 * One Glue registry (moto) and one Confluent-compatible registry (Apicurio, no auth) for the
 * whole run, installed into .dogear/tools/ on first use. Both are shared by every test file:
 * a file uses registry, schema and subject names of its own. A test of basic auth starts its own
 * registry with `startConfluentRegistry({ basicAuth })`: Apicurio requires credentials on all of
 * its API or none of it.
 */
export default async function setup(project: TestProject) {
  const waiting = performance.now();
  const [glue, confluent] = await starting;
  const stop = async () => {
    await Promise.all(
      [glue, confluent].map((result) =>
        result.status === 'fulfilled' ? result.value.registry.stop() : undefined,
      ),
    );
  };
  if (glue.status === 'rejected' || confluent.status === 'rejected') {
    await stop();
    throw glue.status === 'rejected' ? glue.reason : (confluent as PromiseRejectedResult).reason;
  }
  const since = (at: number) => Math.round(at - began);
  process.stderr.write(
    `Glue registry (moto) on ${glue.value.registry.endpoint} (${since(glue.value.at)} ms), Confluent registry (Apicurio) on ${confluent.value.registry.url} (${since(confluent.value.at)} ms; setup waited ${Math.round(performance.now() - waiting)} ms)\n`,
  );
  project.provide('glueRegistryEndpoint', glue.value.registry.endpoint);
  project.provide('glueRegistryRegion', glue.value.registry.region);
  project.provide('confluentRegistryUrl', confluent.value.registry.url);
  return stop;
}
