import { AwsClient } from 'aws4fetch';

/** AWS credentials, as Lambda gives a function its role's in the environment. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The function's credentials from the environment: what every signed call of the bundle uses. */
export async function environmentCredentials(): Promise<AwsCredentials> {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = process.env;
  if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY) {
    throw new Error(
      'No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda sets them)',
    );
  }
  return {
    accessKeyId: AWS_ACCESS_KEY_ID,
    secretAccessKey: AWS_SECRET_ACCESS_KEY,
    ...(AWS_SESSION_TOKEN ? { sessionToken: AWS_SESSION_TOKEN } : {}),
  };
}

/** One AWS JSON API (Glue, Secrets Manager: 1.1; SQS: 1.0) operation, as `awsJsonCall` sends it. */
export interface AwsJsonApi {
  readonly service: string;
  readonly region: string;
  readonly endpoint: string;
  /** `X-Amz-Target`: `<prefix>.<Operation>`, e.g. `AWSGlue.GetSchemaVersion`. */
  readonly target: string;
  /** The protocol's version, in the content type. @default '1.1' */
  readonly version?: '1.0' | '1.1';
}

/**
 * One request of an AWS JSON API, signed with SigV4 by aws4fetch, not retried (the caller
 * decides what may be retried). Resolves with the response whatever its status.
 */
export async function awsJsonCall(
  api: AwsJsonApi,
  body: object,
  credentials: () => Promise<AwsCredentials>,
  { timeoutMs = 5_000 }: { timeoutMs?: number } = {},
): Promise<Response> {
  const client = new AwsClient({
    ...(await credentials()),
    service: api.service,
    region: api.region,
    retries: 0,
  });
  const request = await client.sign(api.endpoint, {
    method: 'POST',
    headers: {
      'content-type': `application/x-amz-json-${api.version ?? '1.1'}`,
      'x-amz-target': api.target,
    },
    body: JSON.stringify(body),
  });
  return fetch(request, { signal: AbortSignal.timeout(timeoutMs) });
}

/** What reading a Secrets Manager secret's JSON gave: its value, or why there is none. */
export type SecretJson =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  | { readonly ok: false; readonly reason: 'not-an-arn' | 'not-json' }
  | {
      readonly ok: false;
      readonly reason: 'refused';
      readonly status: number;
      readonly type: string;
    };

export interface ReadSecretOptions {
  /** @default the secret's region's endpoint */
  endpoint?: string;
  /** @default the environment's (the function's role) */
  credentials?: () => Promise<AwsCredentials>;
  timeoutMs?: number;
  /** Makes the request, e.g. with the caller's retries. @default once */
  send?: (request: () => Promise<Response>) => Promise<Response>;
}

/** A secret's JSON (`GetSecretValue`, signed with the function's role), or why it is not there. */
export async function readSecretJson(
  secretArn: string,
  options: ReadSecretOptions = {},
): Promise<SecretJson> {
  const region = /^arn:[^:]+:secretsmanager:([^:]+):/.exec(secretArn)?.[1];
  if (!region) return { ok: false, reason: 'not-an-arn' };
  const endpoint = options.endpoint ?? `https://secretsmanager.${region}.amazonaws.com`;
  const request = () =>
    awsJsonCall(
      { service: 'secretsmanager', region, endpoint, target: 'secretsmanager.GetSecretValue' },
      { SecretId: secretArn },
      options.credentials ?? environmentCredentials,
      options,
    );
  const response = await (options.send ? options.send(request) : request());
  const body = (await response.json().catch(() => ({}))) as {
    SecretString?: string;
    __type?: string;
  };
  if (!response.ok || typeof body.SecretString !== 'string') {
    return { ok: false, reason: 'refused', status: response.status, type: body.__type ?? '' };
  }
  try {
    return { ok: true, value: JSON.parse(body.SecretString) as Record<string, unknown> };
  } catch {
    return { ok: false, reason: 'not-json' };
  }
}

/** The error code an AWS API answered with: JSON's `__type`, S3's XML `<Code>`, or the query header. */
export async function awsErrorCode(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  return (
    /"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"/.exec(text)?.[1] ??
    /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ??
    response.headers.get('x-amzn-query-error')?.split(';')[0] ??
    ''
  );
}
