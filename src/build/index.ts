export {
  type BuildManifest,
  type BuildOptions,
  type BuiltConsumer,
  buildConsumers,
  kb,
} from './bundle.ts';
export {
  consumerFiles,
  type DiscoveredConsumer,
  discoverConsumers,
  findConsumer,
} from './discover.ts';
export { BuildError } from './errors.ts';
