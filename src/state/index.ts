export {
  type DynamoLocation,
  DynamoStateStore,
  type DynamoStateStoreOptions,
  openDynamoStateStore,
} from './dynamo.ts';
export {
  type AwsCredentials,
  type DynamoApi,
  type FetchDynamoApiOptions,
  fetchDynamoApi,
} from './dynamo-api.ts';
export { StateConflictError, StateError, StateLimitError, StateTypeError } from './errors.ts';
export { FileStateStore, type FileStateStoreOptions } from './file.ts';
export { itemId, MemoryStateStore } from './memory.ts';
export { type Fit, StateCache, StateTransaction } from './transaction.ts';
export {
  ABSENT,
  type Change,
  type Checkpoint,
  type Commit,
  type CommitLimits,
  DYNAMODB_LIMITS,
  type ItemWrite,
  NO_CHECKPOINT,
  type OnceClaim,
  type OnceKey,
  type PartitionRef,
  type StateStore,
  type StoredItem,
} from './types.ts';
