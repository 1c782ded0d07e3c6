/**
 * Every command and flag of the CLI, in one table: `--help` is generated from it, and so is the
 * CLI reference in docs/cli.md (`npm run docs:cli`).
 */
export interface FlagSpec {
  /** Commander syntax: `--events <file>`, `--reset`. */
  readonly flags: string;
  readonly description: string;
  readonly default?: string | number | boolean;
  readonly required?: boolean;
  /** An environment variable that supplies the default. */
  readonly env?: string;
}

export interface CommandSpec {
  readonly args: string;
  readonly summary: string;
  /** Shown after the flags in `--help`. */
  readonly example: string;
  readonly flags: readonly FlagSpec[];
}

const stateDir: FlagSpec = {
  flags: '--state-dir <dir>',
  description: 'folder of the embedded state store',
  default: '.dogear/state',
};
const dynamodb: FlagSpec = {
  flags: '--dynamodb <endpoint>',
  description:
    'keep state in DynamoDB at this endpoint (DynamoDB Local); the table is created if missing',
  env: 'DOGEAR_DYNAMODB_ENDPOINT',
};
const dynamodbTable: FlagSpec = {
  flags: '--dynamodb-table <name>',
  description: 'the state table (alone: the table in AWS, with credentials from the environment)',
  env: 'DOGEAR_DYNAMODB_TABLE',
};
const functionsDir: FlagSpec = {
  flags: '--functions <dir>',
  description: 'folder searched for consumers (**/*.ts)',
  default: 'functions',
};

/** `--consumer`'s schema codecs write NDJSON values given as JSON: the writer schema ids. */
const schemaIds: readonly FlagSpec[] = [
  {
    flags: '--value-schema-id <id>',
    description:
      'the writer schema (Confluent id or Glue version UUID) of values given as JSON, framed for the codec\'s registry; a line\'s own "valueSchemaId" wins',
  },
  { flags: '--key-schema-id <id>', description: 'as --value-schema-id, for keys ("keySchemaId")' },
];
const encodeConsumer: FlagSpec = {
  flags: '--consumer <name>',
  description:
    "encode keys and values given as JSON with that consumer's avro(), protobuf() or jsonSchema() codecs, on every line (lines with valueBase64 pass as they are)",
};

/** How `dev`, `produce` and `record` reach a cluster: brokers, or an MSK cluster; TLS; SASL. */
const kafkaConnection: readonly FlagSpec[] = [
  {
    flags: '--brokers <list>',
    description: 'bootstrap brokers, comma-separated',
    default: '127.0.0.1:9092',
    env: 'KAFKA_BROKERS',
  },
  {
    flags: '--cluster <name>',
    description:
      'an MSK cluster name or ARN: its brokers come from the MSK API (IAM, SASL/SCRAM or TLS)',
  },
  {
    flags: '--sasl-mechanism <m>',
    description:
      'PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, or AWS_MSK_IAM (credentials from the environment; the default with --cluster when it offers IAM)',
  },
  { flags: '--sasl-username <user>', description: 'SASL user', env: 'DOGEAR_SASL_USERNAME' },
  {
    flags: '--sasl-password <password>',
    description: 'SASL password',
    env: 'DOGEAR_SASL_PASSWORD',
  },
  {
    flags: '--tls',
    description: 'connect with TLS (on by default with --cluster)',
    default: false,
  },
  {
    flags: '--tls-ca <file>',
    description:
      "PEM certificates to trust instead of Node's CA bundle, for a cluster with a private CA (implies --tls)",
    env: 'DOGEAR_TLS_CA',
  },
];

export const COMMANDS = {
  invoke: {
    args: '<consumer>',
    summary:
      "run a consumer's Lambda handler locally on recorded events, with state on disk or in DynamoDB",
    example:
      "dogear invoke word-count --events functions/events/book-pages.ndjson --json\n\nThe events file holds NDJSON records (one JSON object per line: topic, partition, offset,\noptional timestamp, timestampType, key, value, keyBase64, valueBase64, headers) or MSK event\nJSON as Lambda delivers it (one event or an array). For a consumer that decodes\nthrough a schema (avro(), protobuf(), jsonSchema()), NDJSON values given as JSON are first\nwritten with its codecs, framed with the line's valueSchemaId. NDJSON is cut into events of the\nconsumer's batchSize and at most 6 MB, as Lambda cuts them. A partial batch response\n(reportBatchItemFailures) is retried from the offsets it names, maximumRetryAttempts times\n(10 when unset with an on-failure destination, as Lambda caps it; else once when unset);\na record still failing then ends the run with exit code 1.\nRunning the same file twice changes nothing the second time: its records are duplicates.\n\nWhat the consumer emits (ctx.emit) and its dead letters to Kafka topics are appended to the\n--outputs file as NDJSON records, which `dogear invoke <next consumer> --events <file>` reads:\na pipeline runs on recordings alone. Dead letters to SQS or S3 go beside it, to\n<file>.dead-letters.ndjson. A consumer with a deadLetter is retried until its failing records\nare given up.",
    flags: [
      { flags: '--events <file>', description: 'NDJSON records or MSK event JSON', required: true },
      {
        flags: '--outputs <file>',
        description:
          'append outputs and Kafka dead letters here, as NDJSON records (default: .dogear/outputs/<consumer>.ndjson)',
      },
      stateDir,
      dynamodb,
      dynamodbTable,
      {
        flags: '--reset',
        description: "forget the consumer group's state and offsets first",
        default: false,
      },
      {
        flags: '--json',
        description:
          'print one summary object on stdout: counts, every partial batch response, every failure',
        default: false,
      },
      { flags: '--verbose', description: "show the handler's log lines on stderr", default: false },
      ...schemaIds,
      functionsDir,
    ],
  },
  state: {
    args: '<consumer>',
    summary: "print a table of a consumer's state (the table view of the stream), or its offsets",
    example:
      'dogear state word-count --table counts --key the --json\ndogear state word-count --offsets\n\nWith --offsets --json it prints { version, consumer, group, topic, partitions }, each partition as { topic, partition, nextOffset, lastProcessedOffset }; partitions is [] before any checkpoint.',
    flags: [
      {
        flags: '--table <name>',
        description: 'the table to print; ctx.state is the table "state"',
      },
      { flags: '--key <key>', description: "print only this key's value (null when absent)" },
      {
        flags: '--offsets',
        description:
          "print each partition's checkpoint instead: the next offset to read (what Kafka calls the committed offset) and the last processed",
        default: false,
      },
      stateDir,
      dynamodb,
      dynamodbTable,
      { flags: '--json', description: 'print JSON on stdout', default: false },
      functionsDir,
    ],
  },
  events: {
    args: '<file>',
    summary: 'turn NDJSON records into MSK event JSON, as Lambda would deliver them',
    example:
      "dogear events functions/events/temperature-readings.ndjson --batch-size 20 > events.json\ndogear events functions/events/payments.ndjson --consumer payment-totals --batch-size 25 --out functions/events/payments.json\n\nWith --consumer, values given as JSON are written as the consumer's producers write them: Avro, Protobuf or JSON Schema, framed for the registry with each line's \"valueSchemaId\" (Confluent's integer id or Glue's version UUID), or --value-schema-id. A value the schema refuses fails naming the line and the field.",
    flags: [
      {
        flags: '--batch-size <n>',
        description: 'records per event at most (an event also stays within 6 MB)',
        default: 100,
      },
      { flags: '--topic <topic>', description: 'keep only records of this topic' },
      {
        flags: '--self-managed',
        description: 'make SelfManagedKafka events instead of aws:kafka',
        default: false,
      },
      { flags: '--out <file>', description: 'write to a file instead of stdout' },
      encodeConsumer,
      ...schemaIds,
      functionsDir,
    ],
  },
  build: {
    args: '[consumers...]',
    summary: 'bundle each consumer into its own Lambda package under .dogear/build/<consumer>/',
    example:
      'dogear build\ndogear build word-count --sdk runtime\n\nEach bundle is ESM, tree-shaken, minified, with a source map, and holds only its own consumer.',
    flags: [
      { flags: '--out <dir>', description: 'where bundles go', default: '.dogear/build' },
      {
        flags: '--sdk <mode>',
        description: "'bundle' the AWS SDK clients, or take them from the Lambda 'runtime'",
        default: 'bundle',
      },
      {
        flags: '--runtime <runtime>',
        description: 'nodejs22.x or nodejs24.x',
        default: 'nodejs24.x',
      },
      { flags: '--json', description: 'print the build manifest on stdout', default: false },
      functionsDir,
    ],
  },
  dev: {
    args: '[consumers...]',
    summary:
      "run consumers against a Kafka broker the way Lambda's event-source mapping does, reloading on change",
    example:
      'npm run kafka   # in another terminal: a local broker\ndogear dev --brokers 127.0.0.1:9092\n\nOne consumer group per consumer; batches of batchSize records gathered for the batching window, up to 6 MB; partitions in order; a failed batch retried whole; offsets committed to Kafka only after a batch succeeds. Ctrl-C stops after the batches in flight.',
    flags: [
      ...kafkaConnection,
      stateDir,
      dynamodb,
      dynamodbTable,
      {
        flags: '--serverless <file>',
        description:
          "take the event-source options (batchingWindow, retries, bisect, …) of custom.dogear in this file over the decorator's, as deployed; read when it exists (default serverless.yml)",
      },
      { flags: '--no-watch', description: 'do not reload consumers when their files change' },
      { flags: '--verbose', description: "show the handler's log lines on stderr", default: false },
      functionsDir,
    ],
  },
  produce: {
    args: '<file>',
    summary:
      'write recorded records (NDJSON or MSK event JSON) to a Kafka broker, each to its partition',
    example:
      "dogear produce functions/events/book-pages.ndjson --brokers 127.0.0.1:9092\n\nMissing topics are created with as many partitions as the file uses. The broker assigns new offsets; records keep their timestamps, so the topic's time retention applies to them. With --consumer, values given as JSON are encoded first, as for dogear events.",
    flags: [
      { flags: '--topic <topic>', description: 'produce only records of this topic' },
      ...kafkaConnection,
      encodeConsumer,
      ...schemaIds,
      functionsDir,
    ],
  },
  'dead-letters': {
    args: '<consumer>',
    summary:
      'list the records a consumer gave up on (its deadLetter.to topic, SQS queue or S3 bucket), and re-drive them with --replay once it is fixed',
    example:
      "dogear dead-letters thermometer\ndogear dead-letters thermometer --json\ndogear dead-letters thermometer --replay\n\nOne line per dead letter: the source topic-partition@offset, the failed deliveries, the error's name and message, and when it was given up. --json prints NDJSON, one dead letter a line: { partition, offset, facts, origin, key, value, headers, replayed }, where partition and offset are its place in the dead-letter topic (for SQS messageId and for S3 objectKey take their place), facts the dogear-dead-letter header (consumer, group, topic, partition, offset, timestamp, attempts, error, at) and key, value and header values base64.\n\n--replay produces each dead letter not replayed yet to its source topic and partition: the original key, value and headers (dogear's own left off), plus dogear-redriven-from: <topic>|<partition>|<offset>. It remembers what it replayed as the committed offsets of the consumer group dogear-dead-letters.<group> on the dead-letter topic, so a second --replay sends nothing again (one that dies between producing and committing sends its last letters again). Reset that group's offsets (kafka-consumer-groups --reset-offsets) to replay again.\n\nDead letters in an SQS queue (deadLetter.to arn:aws:sqs:<region>:<account>:<queue>) are read with ReceiveMessage until a receive returns none. Listing makes each message invisible to other readers while it runs (VisibilityTimeout 30 s; it makes them visible again at its end, or they come back after the 30 s if it dies) and counts a receive (ApproximateReceiveCount: mind the queue's own redrive policy). Dead letters in an S3 bucket (arn:aws:s3:::<bucket>) are the objects under <group>/. --replay produces each as above, then deletes it from the queue (DeleteMessage) or bucket (DeleteObject), so a second --replay sends nothing. Credentials and region come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION for a bucket); DOGEAR_AWS_ENDPOINT points both at one endpoint instead (moto, LocalStack).",
    flags: [
      {
        flags: '--replay',
        description:
          'produce the dead letters not replayed yet back to their source topic, and remember them (group dogear-dead-letters.<group>), or delete them from the SQS queue or S3 bucket',
        default: false,
      },
      {
        flags: '--json',
        description: 'print NDJSON on stdout: one dead letter per line',
        default: false,
      },
      {
        flags: '--idle-ms <ms>',
        description: 'stop reading the dead-letter topic when no record arrives for this long',
        default: 10000,
      },
      ...kafkaConnection,
      functionsDir,
    ],
  },
  record: {
    args: '',
    summary:
      'record a topic from a live cluster into NDJSON that `dogear invoke` replays, faithful to the log',
    example:
      'dogear record --topic book-pages --from earliest --out pages.ndjson\ndogear record --cluster my-msk --topic orders --from 2026-11-24T00:00:00Z --max 5000 --sasl-mechanism SCRAM-SHA-512 --sasl-username me\n\nReads partitions directly: no consumer group is joined and no offset is committed. Text stays text; bytes that are not UTF-8 are written as keyBase64/valueBase64, binary or repeated headers as headersBase64. Stops at the end offsets as of start, at --max, after --idle-ms without records, or on Ctrl-C.\n\ndogear record --consumer payment-totals --decode --max 10\n\nDecodes through the code the Lambda handler runs; a record that does not decode is kept as recorded, with decodeError.',
    flags: [
      { flags: '--topic <topic>', description: "the topic to record (default: --consumer's)" },
      ...kafkaConnection,
      {
        flags: '--from <where>',
        description: 'earliest, latest, an offset (every partition), or a time (ISO 8601)',
        default: 'earliest',
      },
      { flags: '--max <n>', description: 'stop after this many records' },
      {
        flags: '--idle-ms <ms>',
        description: 'stop when no record arrives for this long',
        default: 10000,
      },
      { flags: '--out <file>', description: 'write to a file (atomically) instead of stdout' },
      {
        flags: '--consumer <name>',
        description: 'the consumer whose key and value formats --decode uses; its topic by default',
      },
      {
        flags: '--decode',
        description:
          'show keys and values the consumer decodes through a schema as its handler gets them: value as JSON (bytes as base64) and valueSchema, beside valueBase64, so the file still replays',
        default: false,
      },
      functionsDir,
    ],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;
