/**
 * Schema registry clients: Confluent's REST API and AWS Glue's GetSchemaVersion. Each caches a
 * writer schema by id for the life of the process (a warm function fetches an id once), bounds
 * each call by a timeout and a few retries, and fails with a `SchemaRegistryError` that says
 * whether a later delivery can succeed.
 */
import {
  type AwsCredentials,
  awsJsonCall,
  environmentCredentials,
  readSecretJson,
} from '../aws.ts';
import { backoff } from '../backoff.ts';
import type { SchemaRef } from '../event/index.ts';
import { SchemaDecodeError, SchemaRegistryError } from './errors.ts';

/** A schema language, as dogear names it. */
export type SchemaFormat = 'avro' | 'protobuf' | 'json-schema';

/** What a registry knows of the schema a producer wrote with. */
export interface WriterSchema {
  /** Confluent's integer id, or Glue's schema version UUID. */
  readonly id: number | string;
  readonly format: SchemaFormat;
  /** The schema's text: Avro JSON, a .proto file, or a JSON Schema. */
  readonly definition: string;
}

/** Where writer schemas come from, and the wire format its producers frame values in. */
export interface SchemaRegistry {
  readonly wire: 'confluent' | 'glue';
  /** The registry's address, for messages and `record.valueSchema`. */
  readonly name: string;
  /** Glue's registry name, when given: what the function's IAM policy is scoped to. */
  readonly registryName?: string;
  /** The secret its credentials are read from, when they are: the function's role may read it. */
  readonly secretArn?: string;
  schema(id: number | string): Promise<WriterSchema>;
}

/** Per call; a registry slower than this fails the record, which Lambda delivers again. */
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_RETRIES = 2;

interface CallOptions {
  /** @default 5000 */
  timeoutMs?: number;
  /** Retries of a call that timed out, could not connect or got a 5xx or 429. @default 2 */
  retries?: number;
}

export interface ConfluentRegistryOptions extends CallOptions {
  /** The registry's base URL. @default $DOGEAR_SCHEMA_REGISTRY_URL */
  url?: string;
  /**
   * Basic auth (Confluent Cloud: an API key and secret), a bearer token, or a Secrets Manager
   * secret holding either as JSON (`{"username": …, "password": …}`, the shape Lambda's
   * BASIC_AUTH secrets have, or `{"token": …}`), read with the function's role once per process.
   * @default $DOGEAR_SCHEMA_REGISTRY_SECRET_ARN, else $DOGEAR_SCHEMA_REGISTRY_USERNAME and
   * _PASSWORD, else $DOGEAR_SCHEMA_REGISTRY_TOKEN
   */
  auth?: { username: string; password: string } | { token: string } | { secretArn: string };
  /** Where the secret is read, for `auth.secretArn`. @default the secret's region's endpoint */
  secretsEndpoint?: string;
  /** @default the environment's (the function's role) */
  credentials?: () => Promise<AwsCredentials>;
  /** Extra headers, e.g. Confluent Cloud's `target-sr-cluster` for bearer tokens. */
  headers?: Record<string, string>;
}

/** A Confluent Schema Registry (or a compatible one: Apicurio's `/apis/ccompat/v7`). */
export function confluentRegistry(options: ConfluentRegistryOptions = {}): SchemaRegistry {
  const url = (options.url ?? process.env.DOGEAR_SCHEMA_REGISTRY_URL ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) {
    throw new RangeError(
      `confluentRegistry needs the registry's URL (got '${url}'): pass { url } or set DOGEAR_SCHEMA_REGISTRY_URL`,
    );
  }
  const headers: Record<string, string> = {
    accept: 'application/vnd.schemaregistry.v1+json, application/json',
    ...options.headers,
  };
  const auth = options.auth ?? authFromEnvironment();
  const name = url;
  // A secret is read at the first schema fetched, once, and again only after it failed.
  let secretAuth: Promise<Record<string, string>> | undefined;
  const authorization = async (): Promise<Record<string, string>> => {
    if (!auth) return {};
    if (!('secretArn' in auth)) return authHeader(auth);
    secretAuth ??= readSecret(auth.secretArn, options).then(authHeader);
    secretAuth.catch(() => {
      secretAuth = undefined;
    });
    return secretAuth;
  };
  return {
    wire: 'confluent',
    name,
    ...(auth && 'secretArn' in auth ? { secretArn: auth.secretArn } : {}),
    schema: cachedById(async (id) => {
      const withAuth = { ...headers, ...(await authorization()) };
      const response = await call(name, options, () =>
        fetch(`${url}/schemas/ids/${encodeURIComponent(String(id))}`, {
          headers: withAuth,
          signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
        }),
      );
      const body = (await response.json().catch(() => ({}))) as {
        schema?: string;
        schemaType?: string;
        error_code?: number;
        message?: string;
      };
      if (response.status === 404) {
        throw new SchemaRegistryError(
          `schema id ${id} is unknown to the registry at ${name} (${body.message ?? response.status}); is the consumer pointed at the registry its producers use?`,
          'permanent',
        );
      }
      if (!response.ok) throw refused(name, response.status, body.message);
      if (typeof body.schema !== 'string') {
        throw new SchemaRegistryError(
          `the registry at ${name} answered schema id ${id} without a schema`,
          'retry',
        );
      }
      const type = body.schemaType ?? 'AVRO';
      return { id, format: formatOf(type, name, id), definition: body.schema };
    }),
  };
}

function authHeader(auth: Readonly<Record<string, unknown>>): Record<string, string> {
  if (typeof auth.token === 'string') return { authorization: `Bearer ${auth.token}` };
  const { username, password } = auth;
  if (typeof username !== 'string' || typeof password !== 'string') {
    throw new SchemaRegistryError(
      'the registry secret holds neither {"username", "password"} nor {"token"}; store the credentials as that JSON',
      'retry',
    );
  }
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
}

/**
 * Reads a Secrets Manager secret's JSON (`GetSecretValue`, signed with the function's role). A
 * failure is one to retry: the record is delivered again, and the secret read again.
 */
async function readSecret(
  secretArn: string,
  options: ConfluentRegistryOptions,
): Promise<Record<string, string>> {
  const where = `secret ${secretArn}`;
  const read = await readSecretJson(secretArn, {
    ...(options.secretsEndpoint ? { endpoint: options.secretsEndpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    send: (request) => call(where, options, request),
  });
  if (read.ok) return read.value as Record<string, string>;
  switch (read.reason) {
    case 'not-an-arn':
      throw new SchemaRegistryError(
        `auth.secretArn '${secretArn}' is not a Secrets Manager secret's ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)`,
        'retry',
      );
    case 'refused':
      throw new SchemaRegistryError(
        `could not read the registry credentials from ${where} (${read.status} ${read.type}); grant the function secretsmanager:GetSecretValue on it (dogear/serverless does)`,
        'retry',
      );
    case 'not-json':
      throw new SchemaRegistryError(
        `${where} is not JSON; store {"username", "password"} or {"token"}`,
        'retry',
      );
  }
}

function authFromEnvironment(): ConfluentRegistryOptions['auth'] {
  const {
    DOGEAR_SCHEMA_REGISTRY_SECRET_ARN: secretArn,
    DOGEAR_SCHEMA_REGISTRY_USERNAME: username,
    DOGEAR_SCHEMA_REGISTRY_PASSWORD: password,
    DOGEAR_SCHEMA_REGISTRY_TOKEN: token,
  } = process.env;
  if (secretArn) return { secretArn };
  if (token) return { token };
  if (username && password) return { username, password };
  return undefined;
}

export interface GlueRegistryOptions extends CallOptions {
  /**
   * The registry's name: the schemas the function may read (IAM is scoped to it). Without it,
   * `dogear/serverless` grants `glue:GetSchemaVersion` on every registry of the account and region.
   */
  registryName?: string;
  /** @default $AWS_REGION */
  region?: string;
  /** @default https://glue.<region>.amazonaws.com */
  endpoint?: string;
  /** @default the environment's (the function's role) */
  credentials?: () => Promise<AwsCredentials>;
}

/** The AWS Glue Schema Registry of the function's account and region. */
export function glueRegistry(options: GlueRegistryOptions = {}): SchemaRegistry {
  const region =
    options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const endpoint = options.endpoint ?? `https://glue.${region}.amazonaws.com`;
  const credentials = options.credentials ?? environmentCredentials;
  const name = `glue ${region}${options.registryName ? ` registry ${options.registryName}` : ''}${options.endpoint ? ` at ${endpoint}` : ''}`;
  return {
    wire: 'glue',
    name,
    ...(options.registryName ? { registryName: options.registryName } : {}),
    schema: cachedById(async (id) => {
      const response = await call(name, options, () =>
        awsJsonCall(
          { service: 'glue', region, endpoint, target: 'AWSGlue.GetSchemaVersion' },
          { SchemaVersionId: String(id) },
          credentials,
          options,
        ),
      );
      const body = (await response.json().catch(() => ({}))) as {
        __type?: string;
        message?: string;
        Message?: string;
        SchemaDefinition?: string;
        DataFormat?: string;
        Status?: string;
      };
      const type = String(body.__type ?? response.headers.get('x-amzn-errortype') ?? '');
      if (/EntityNotFound/.test(type)) {
        throw new SchemaRegistryError(
          `schema version ${id} is not in the Glue Schema Registry of ${region} (${body.message ?? body.Message ?? type}); is the consumer in the account and region its producers use?`,
          'permanent',
        );
      }
      if (!response.ok) throw refused(name, response.status, body.message ?? body.Message ?? type);
      if (body.Status !== undefined && body.Status !== 'AVAILABLE') {
        throw new SchemaRegistryError(
          `schema version ${id} is ${body.Status} in Glue, not AVAILABLE`,
          'retry',
        );
      }
      if (typeof body.SchemaDefinition !== 'string') {
        throw new SchemaRegistryError(
          `Glue answered schema version ${id} without a definition`,
          'retry',
        );
      }
      return {
        id,
        format: formatOf(body.DataFormat ?? '', name, id),
        definition: body.SchemaDefinition,
      };
    }),
  };
}

/** Registry type names (Confluent's schemaType, Glue's DataFormat) as dogear's. */
function formatOf(type: string, registry: string, id: number | string): SchemaFormat {
  switch (type.toUpperCase()) {
    case 'AVRO':
      return 'avro';
    case 'PROTOBUF':
      return 'protobuf';
    case 'JSON':
      return 'json-schema';
  }
  throw new SchemaRegistryError(
    `schema ${id} at ${registry} is of type '${type}', which dogear does not read`,
    'permanent',
  );
}

function refused(registry: string, status: number, message: string | undefined) {
  const why =
    status === 401 || status === 403
      ? 'refused the credentials: check DOGEAR_SCHEMA_REGISTRY_USERNAME/_PASSWORD (or _TOKEN), or the role'
      : `answered ${status}`;
  return new SchemaRegistryError(
    `the registry at ${registry} ${why}${message ? ` (${message})` : ''}`,
    'retry',
  );
}

/** One call with a timeout, retried on what may pass: no answer, 5xx, 429. */
async function call(
  registry: string,
  options: CallOptions,
  send: () => Promise<Response>,
): Promise<Response> {
  const retries = options.retries ?? DEFAULT_RETRIES;
  for (let attempt = 0; ; attempt++) {
    let response: Response | undefined;
    let failure: unknown;
    try {
      response = await send();
    } catch (error) {
      failure = error;
    }
    const transient = !response || response.status >= 500 || response.status === 429;
    if (!transient) return response!;
    if (attempt >= retries) {
      if (response) return response;
      const timedOut = (failure as Error)?.name === 'TimeoutError';
      throw new SchemaRegistryError(
        `the registry at ${registry} ${timedOut ? `did not answer within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms` : `could not be reached (${(failure as Error)?.message})`} after ${attempt + 1} attempts; the record is delivered again`,
        'retry',
        { cause: failure },
      );
    }
    await backoff(attempt, { base: 100, cap: 1000 });
  }
}

export interface SchemasInCodeOptions {
  /** How producers framed the values: Confluent's frame (integer ids) or Glue's (UUIDs). */
  wire: 'confluent' | 'glue';
  /** Writer schemas by id: Avro schemas as objects, .proto files and JSON Schemas as text. */
  schemas: Readonly<Record<string, { format: SchemaFormat; definition: string | object }>>;
}

/**
 * Writer schemas given in code instead of fetched: for topics whose schemas are pinned, and for
 * tests and recordings made without a registry. Reads registry-framed values like a registry.
 */
export function schemasInCode(options: SchemasInCodeOptions): SchemaRegistry {
  return {
    wire: options.wire,
    name: `schemas in code (${options.wire})`,
    async schema(id) {
      const found = options.schemas[String(id)];
      if (!found) {
        throw new SchemaRegistryError(
          `schema id ${id} is not among the schemas given in code (${Object.keys(options.schemas).join(', ') || 'none'})`,
          'permanent',
        );
      }
      const { format, definition } = found;
      return {
        id,
        format,
        definition: typeof definition === 'string' ? definition : JSON.stringify(definition),
      };
    },
  };
}

/** What a codec tells the deploy of its registry. */
export function registryRef(registry: SchemaRegistry) {
  return {
    wire: registry.wire,
    name: registry.name,
    ...(registry.registryName ? { registryName: registry.registryName } : {}),
    ...(registry.secretArn ? { secretArn: registry.secretArn } : {}),
  };
}

/**
 * What is worked out once per writer schema id (a registry's answer, a codec's parsed writer or
 * resolver): kept, unless it failed in a way that may pass, which the next record asks again:
 * a registry down or refusing (`failure` 'retry'), any answer of the registry's (an id it does
 * not know yet may be registered, or replicated, later), or an error of no known kind. What is
 * kept failed for good: an incompatible or unparsable writer schema.
 */
export function onceOrRetry<T>(
  cache: Map<string, Promise<T>>,
  id: number | string,
  work: () => Promise<T>,
): Promise<T> {
  const key = String(id);
  let found = cache.get(key);
  if (!found) {
    found = work();
    cache.set(key, found);
    found.catch((error: unknown) => {
      const forGood =
        error instanceof SchemaDecodeError &&
        error.failure === 'permanent' &&
        !(error instanceof SchemaRegistryError);
      if (!forGood) cache.delete(key);
    });
  }
  return found;
}

/** `fetch` behind a per-process cache by id (`onceOrRetry`'s rule). */
function cachedById(fetch: (id: number | string) => Promise<WriterSchema>) {
  const schemas = new Map<string, Promise<WriterSchema>>();
  return (id: number | string) => onceOrRetry(schemas, id, () => fetch(id));
}

/**
 * The writer schema `id` from `registry`, which must be in `format`: a topic whose producer
 * writes another format fails its records for good.
 */
export async function writerSchema(
  registry: SchemaRegistry,
  id: number | string,
  format: SchemaFormat,
): Promise<WriterSchema> {
  const writer = await registry.schema(id);
  if (writer.format !== format) {
    throw new SchemaDecodeError(
      `schema ${id} is ${writer.format}, not ${FORMAT_NAMES[format]}: the topic's producer writes another format`,
      'permanent',
    );
  }
  return writer;
}

const FORMAT_NAMES: Record<SchemaFormat, string> = {
  avro: 'Avro',
  protobuf: 'Protobuf',
  'json-schema': 'JSON Schema',
};

/** The `record.valueSchema` of a decoded key or value. */
export function schemaRef(
  format: SchemaFormat,
  wire: SchemaRef['wire'],
  id: number | string | undefined,
  registry: SchemaRegistry | undefined,
): SchemaRef {
  return {
    format,
    wire,
    ...(id === undefined ? {} : { id }),
    ...(registry ? { registry: registry.name } : {}),
  };
}
