export { backoff } from '../backoff.ts';
export { StateCache, type StateCacheOptions } from './cache.ts';
export type { Decimal } from './decimal.ts';
export {
  type AwsCredentials,
  type DynamoApi,
  type FetchDynamoApiOptions,
  fetchDynamoApi,
} from './dynamo/api.ts';
export { groupKeyPrefixes, pkOf } from './dynamo/items.ts';
export {
  type DynamoLocation,
  DynamoStateStore,
  type DynamoStateStoreOptions,
  openDynamoStateStore,
} from './dynamo/store.ts';
export {
  StateConflictError,
  StateError,
  StateLimitError,
  StateProtocolError,
  StateTypeError,
  StateValueError,
  type WriteCoordinates,
} from './errors.ts';
export { FileStateStore, type FileStateStoreOptions } from './file.ts';
export { MemoryStateStore } from './memory.ts';
export { type OutboxDraft, type RecordEnd, StateTransaction } from './transaction.ts';
export {
  ABSENT,
  type Change,
  type Checkpoint,
  type Commit,
  type CommitLimits,
  DEAD_LETTER_HEADER,
  type DeadLetterFacts,
  DYNAMODB_LIMITS,
  type ItemRef,
  type ItemWrite,
  NO_CHECKPOINT,
  type OnceClaim,
  type OnceKey,
  type OnceLease,
  ORIGIN_HEADER,
  type OutboxMessage,
  type PartitionRef,
  progressOf,
  type RecordAttempt,
  type StateStore,
  type StoredItem,
  type UpstreamMark,
} from './types.ts';
