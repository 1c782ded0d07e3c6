import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { FieldFormat, Format } from '../event/index.ts';
import { TABLE_NAME } from './context.ts';
import { ConsumerDefinitionError } from './errors.ts';
import type {
  BatchHandler,
  ConsumerDefinition,
  ConsumerOptions,
  DeadLetterOptions,
  Decoded,
  DeployOptions,
  Reads,
  RecordHandler,
  ValueOf,
} from './types.ts';

/** Marks a class or object as a consumer; shared across copies of dogear in one process. */
export const CONSUMER = Symbol.for('dogear.consumer');
const HANDLER = Symbol.for('dogear.handler');

interface HandlerMark {
  mode: 'record' | 'batch';
  method: string | symbol;
}

const OPTION_KEYS = new Set([
  'topic',
  'name',
  'group',
  'batchSize',
  'value',
  'key',
  'schema',
  'middlewares',
  'deploy',
  'maxReadAgeMs',
  'reads',
  'emits',
  'deadLetter',
]);
/** Kafka's rule for topic names: 1 to 249 of letters, digits, '.', '_' and '-'. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
/** Every `deploy` option; serverless.yml's `custom.dogear` checks against the same list. */
export const DEPLOY_OPTIONS = [
  'memorySize',
  'timeout',
  'batchingWindow',
  'startingPosition',
  'startingPositionTimestamp',
  'filterPatterns',
  'provisionedPollers',
  'onFailure',
  'enabled',
  'reportBatchItemFailures',
  'bisectBatchOnError',
  'maximumRetryAttempts',
  'maximumRecordAgeInSeconds',
  'schemaRegistry',
] as const satisfies ReadonlyArray<keyof DeployOptions>;
const DEPLOY_KEYS = new Set<string>(DEPLOY_OPTIONS);
/**
 * Lambda's ConsumerGroupId pattern, less `*` (IAM would read it as a wildcard); it has no `|`,
 * which separates the parts of state item keys. The serverless plugin checks against it too.
 */
export const CONSUMER_GROUP_PATTERN = /^[a-zA-Z0-9\-/:_+=.@]{1,200}$/;
const FORMATS = new Set<Format>(['json', 'string', 'bytes']);

/** `WordCount` → `word-count`. */
export function kebabCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .replace(/[\s_]+/g, '-')
    .toLowerCase();
}

function definitionOf(
  options: ConsumerOptions,
  fallbackName: string,
  mode: 'record' | 'batch',
  create: ConsumerDefinition['create'],
): ConsumerDefinition {
  const where = `consumer ${options?.name ?? kebabCase(fallbackName)}`;
  if (typeof options !== 'object' || options === null) {
    throw new ConsumerDefinitionError(`${where}: options must be an object with at least a topic`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new ConsumerDefinitionError(
        `${where}: unknown option '${key}'; known options are ${[...OPTION_KEYS].join(', ')}`,
      );
    }
  }
  if (typeof options.topic !== 'string' || options.topic === '') {
    throw new ConsumerDefinitionError(`${where} has no topic; add { topic: '<topic name>' }`);
  }
  const batchSize = options.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new ConsumerDefinitionError(
      `${where}: batchSize ${batchSize} is outside Lambda's 1 to 10,000`,
    );
  }
  for (const field of ['value', 'key'] as const) {
    const format = options[field];
    const codec = typeof format === 'object' && typeof format?.decode === 'function';
    if (format !== undefined && !codec && !FORMATS.has(format as Format)) {
      throw new ConsumerDefinitionError(
        `${where}: ${field} format '${String(format)}' is not one of json, string, bytes, or a schema codec (avro(), protobuf(), jsonSchema() from dogear/schema)`,
      );
    }
  }
  checkDeploy(options.deploy ?? {}, where);
  const maxReadAgeMs = options.maxReadAgeMs ?? 1000;
  if (!Number.isFinite(maxReadAgeMs) || maxReadAgeMs < 0) {
    throw new ConsumerDefinitionError(
      `${where}: maxReadAgeMs ${maxReadAgeMs} must be a number of milliseconds, 0 or more`,
    );
  }
  const reads = checkReads(options.reads, where);
  const emits = checkEmits(options.emits, where);
  const deadLetter = checkDeadLetter(options.deadLetter, where);
  if (deadLetter && mode === 'batch') {
    throw new ConsumerDefinitionError(
      `${where}: deadLetter needs an @onRecord handler: an @onBatch handler fails or succeeds as a whole, so one record cannot be given up without the others`,
    );
  }
  const name = options.name ?? kebabCase(fallbackName);
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new ConsumerDefinitionError(
      `consumer name '${name}' must be lower-case letters, digits and '-' (it names a Lambda function)`,
    );
  }
  const group = options.group ?? name;
  if (!CONSUMER_GROUP_PATTERN.test(group)) {
    throw new ConsumerDefinitionError(
      `${where}: group '${group}' must be 1 to 200 letters, digits or - / : _ + = . @ (Lambda's consumer group id)`,
    );
  }
  return Object.freeze({
    name,
    group,
    topic: options.topic,
    batchSize,
    value: options.value ?? 'json',
    key: options.key ?? 'string',
    ...(options.schema ? { schema: options.schema } : {}),
    middlewares: options.middlewares ?? [],
    deploy: options.deploy ?? {},
    maxReadAgeMs,
    ...(reads ? { reads } : {}),
    emits,
    ...(deadLetter ? { deadLetter } : {}),
    mode,
    create,
  });
}

/** `reads` is a table name → function map; a table name as `ctx.table` takes it. */
function checkReads(reads: unknown, where: string): Reads | undefined {
  if (reads === undefined) return undefined;
  if (typeof reads !== 'object' || reads === null || Array.isArray(reads)) {
    throw new ConsumerDefinitionError(
      `${where}: reads must map table names to functions of a record, e.g. { seen: (record) => record.value.id }`,
    );
  }
  for (const [table, keysOf] of Object.entries(reads)) {
    if (!TABLE_NAME.test(table)) {
      throw new ConsumerDefinitionError(
        `${where}: reads.${table}: a table name is 1 to 100 letters, digits, '_', '.' or '-'`,
      );
    }
    if (typeof keysOf !== 'function') {
      throw new ConsumerDefinitionError(
        `${where}: reads.${table} must be a function of a record returning the keys it reads, got ${typeof keysOf}`,
      );
    }
  }
  return Object.freeze({ ...(reads as Reads) });
}

/** `emits` lists topic names, each once. */
function checkEmits(emits: unknown, where: string): readonly string[] {
  if (emits === undefined) return Object.freeze([]);
  if (!Array.isArray(emits)) {
    throw new ConsumerDefinitionError(
      `${where}: emits must be a list of topic names, e.g. emits: ['temperature-alerts']`,
    );
  }
  for (const topic of emits) {
    if (typeof topic !== 'string' || !TOPIC_NAME.test(topic)) {
      throw new ConsumerDefinitionError(
        `${where}: emits: '${String(topic)}' is not a Kafka topic name (1 to 249 letters, digits, '.', '_' or '-')`,
      );
    }
  }
  return Object.freeze([...new Set(emits as string[])]);
}

/** `deadLetter` names a destination dogear can write, and a count of attempts. */
function checkDeadLetter(deadLetter: unknown, where: string): DeadLetterOptions | undefined {
  if (deadLetter === undefined) return undefined;
  const { after, to } = (deadLetter ?? {}) as Partial<DeadLetterOptions>;
  if (typeof after !== 'number' || !Number.isInteger(after) || after < 1 || after > 100) {
    throw new ConsumerDefinitionError(
      `${where}: deadLetter.after must be a whole number of failed deliveries, 1 to 100, got ${String(after)}`,
    );
  }
  const destination =
    typeof to === 'string' &&
    (TOPIC_NAME.test(to) ||
      /^arn:aws[\w-]*:sqs:[\w-]+:\d{12}:[\w-]{1,80}(\.fifo)?$/.test(to) ||
      /^arn:aws[\w-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(to));
  if (!destination) {
    throw new ConsumerDefinitionError(
      `${where}: deadLetter.to must be a Kafka topic name, an SQS queue ARN (arn:aws:sqs:<region>:<account>:<queue>) or an S3 bucket ARN (arn:aws:s3:::<bucket>), got '${String(to)}'`,
    );
  }
  return Object.freeze({ after, to: to as string });
}

/** Lambda's limits, checked when the consumer is defined rather than when CloudFormation fails. */
function checkDeploy(deploy: DeployOptions, where: string): void {
  for (const key of Object.keys(deploy)) {
    if (!DEPLOY_KEYS.has(key)) {
      throw new ConsumerDefinitionError(
        `${where}: unknown option 'deploy.${key}'; known options are ${[...DEPLOY_KEYS].join(', ')}`,
      );
    }
  }
  const within = (
    option: string,
    value: number | undefined,
    min: number,
    max: number,
    unit: string,
  ) => {
    if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
      throw new ConsumerDefinitionError(
        `${where}: deploy.${option} ${value} is outside Lambda's ${min} to ${max.toLocaleString('en')} ${unit}`,
      );
    }
  };
  within('memorySize', deploy.memorySize, 128, 10_240, 'MB');
  within('timeout', deploy.timeout, 1, 900, 'seconds');
  within('batchingWindow', deploy.batchingWindow, 0, 300, 'seconds');
  within('maximumRetryAttempts', deploy.maximumRetryAttempts, -1, 10_000, 'retries');
  // Lambda's range: -1 (no limit), or 60 s to 7 days (CreateEventSourceMapping API reference).
  const age = deploy.maximumRecordAgeInSeconds;
  if (age !== undefined && age !== -1) {
    within('maximumRecordAgeInSeconds', age, 60, 604_800, 'seconds (or -1 for no limit)');
  }
  within('provisionedPollers.minimum', deploy.provisionedPollers?.minimum, 1, 200, 'pollers');
  within('provisionedPollers.maximum', deploy.provisionedPollers?.maximum, 1, 2000, 'pollers');
  const position = deploy.startingPosition;
  if (position !== undefined && !['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP'].includes(position)) {
    throw new ConsumerDefinitionError(
      `${where}: deploy.startingPosition '${position}' is not LATEST, TRIM_HORIZON or AT_TIMESTAMP`,
    );
  }
  if (position === 'AT_TIMESTAMP' && deploy.startingPositionTimestamp === undefined) {
    throw new ConsumerDefinitionError(
      `${where}: deploy.startingPosition AT_TIMESTAMP needs deploy.startingPositionTimestamp (Unix seconds)`,
    );
  }
  if (deploy.onFailure !== undefined && !/^(arn:|kafka:\/\/)/.test(deploy.onFailure)) {
    throw new ConsumerDefinitionError(
      `${where}: deploy.onFailure must be an SQS, SNS or S3 ARN, or kafka://<topic>, got '${deploy.onFailure}'`,
    );
  }
}

/**
 * Declares a consumer without decorators. The record's value type follows from `schema`, or
 * from `value` (`'string'` gives `string`, `'bytes'` gives `Uint8Array`).
 */
export function defineConsumer<
  S extends StandardSchemaV1 | undefined = undefined,
  VF extends FieldFormat | undefined = undefined,
  KF extends FieldFormat | undefined = undefined,
>(
  options: ConsumerOptions<S, VF, KF> & { name: string },
  handler:
    | RecordHandler<ValueOf<S, VF>, Decoded<KF, string>>
    | { onBatch: BatchHandler<ValueOf<S, VF>, Decoded<KF, string>> },
): ConsumerDefinition {
  const batch = typeof handler === 'object' && handler !== null && 'onBatch' in handler;
  const fn = batch ? handler.onBatch : handler;
  if (typeof fn !== 'function') {
    throw new ConsumerDefinitionError(
      `consumer ${options.name}: the handler must be a function or { onBatch }`,
    );
  }
  const definition = definitionOf(
    options as ConsumerOptions,
    options.name,
    batch ? 'batch' : 'record',
    () => fn as never,
  );
  return Object.freeze({ ...definition, [CONSUMER]: true });
}

/** Declares the decorated class a consumer of `options.topic`. */
export function consumer(options: ConsumerOptions) {
  return <C extends new () => object>(target: C, context: ClassDecoratorContext<C>): void => {
    const mark = context.metadata[HANDLER] as HandlerMark | undefined;
    const className = String(context.name ?? 'AnonymousConsumer');
    if (!mark) {
      throw new ConsumerDefinitionError(
        `@consumer class ${className} has no @onRecord() or @onBatch() method`,
      );
    }
    const definition = definitionOf(options, className, mark.mode, () => {
      const instance = new target() as Record<string | symbol, unknown>;
      const method = instance[mark.method] as (...args: unknown[]) => unknown;
      return method.bind(instance);
    });
    Object.defineProperty(target, CONSUMER, { value: definition });
  };
}

function markHandler(mode: 'record' | 'batch') {
  return (_method: unknown, context: ClassMethodDecoratorContext): void => {
    const decorator = mode === 'record' ? '@onRecord()' : '@onBatch()';
    if (context.static || context.private) {
      throw new ConsumerDefinitionError(
        `${decorator} goes on a public instance method, not on ${String(context.name)}`,
      );
    }
    const existing = context.metadata[HANDLER] as HandlerMark | undefined;
    if (existing) {
      throw new ConsumerDefinitionError(
        `${decorator} on ${String(context.name)}: the class already handles records in ${String(existing.method)}; a consumer has one handler`,
      );
    }
    context.metadata[HANDLER] = { mode, method: context.name } satisfies HandlerMark;
  };
}

/** Marks the method that handles each record, in offset order: `(record, ctx)`. */
export function onRecord() {
  return markHandler('record');
}

/** Marks the method that handles a whole partition slice at once: `(slice, ctx)`. */
export function onBatch() {
  return markHandler('batch');
}

/** The consumer a module export declares, if it declares one. */
export function consumerOf(value: unknown): ConsumerDefinition | undefined {
  if ((typeof value === 'function' || typeof value === 'object') && value !== null) {
    const own = (value as { [CONSUMER]?: unknown })[CONSUMER];
    if (typeof own === 'object' && own !== null) return own as ConsumerDefinition;
    if (own === true) return value as ConsumerDefinition;
  }
  return undefined;
}
