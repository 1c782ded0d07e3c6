export {
  type BuildManifest,
  type BuildOptions,
  type BuiltConsumer,
  buildConsumers,
  entrySource,
  esbuildOptions,
  kb,
  type LambdaRuntime,
  REQUIRE_SHIM,
  skipCliOnlyImports,
} from './bundle.ts';
export {
  consumerFiles,
  type DiscoveredConsumer,
  discoverConsumers,
  findConsumer,
} from './discover.ts';
export { BuildError } from './errors.ts';
