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
