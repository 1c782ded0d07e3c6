import { describe, expect, test } from 'vitest';
import { connectionProblem, kafkaClientOptions } from './connection.ts';
import { OutputConfigError } from './errors.ts';

describe('kafkaClientOptions', () => {
  test('MSK IAM is OAUTHBEARER over TLS with a token signed for kafka-cluster:Connect', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_REGION: 'eu-west-1',
    });
    try {
      const options = kafkaClientOptions({ sasl: { mechanism: 'AWS_MSK_IAM' } });
      expect(options.tls).toEqual({});
      const sasl = options.sasl as { mechanism: string; token: () => Promise<string> };
      expect(sasl.mechanism).toBe('OAUTHBEARER');
      // The token is a presigned URL, base64url-encoded, as MSK's IAM authenticator expects.
      const url = new URL(Buffer.from(await sasl.token(), 'base64url').toString('utf8'));
      expect(url.host).toBe('kafka.eu-west-1.amazonaws.com');
      expect(url.searchParams.get('Action')).toBe('kafka-cluster:Connect');
      expect(url.searchParams.get('X-Amz-Credential')).toMatch(
        /^AKIDTEST\/\d{8}\/eu-west-1\/kafka-cluster\/aws4_request$/,
      );
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      process.env = saved;
    }
  });

  test('SCRAM and TLS map to the client', () => {
    expect(
      kafkaClientOptions({
        tls: true,
        sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p' },
      }),
    ).toEqual({
      tls: {},
      tlsServerName: true,
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p' },
    });
    expect(kafkaClientOptions({})).toEqual({});
  });
});

describe('connectionProblem', () => {
  /** The shape @platformatic/kafka throws when a broker refuses SASL credentials. */
  function refused(): Error {
    const protocol = Object.assign(new Error('SASL authentication failed.'), {
      code: 'PLT_KFK_AUTHENTICATION',
    });
    const network = new Error('Connection to 127.0.0.1:9096 failed.', { cause: protocol });
    return new AggregateError(
      [new AggregateError([network], 'Cannot connect to any broker.')],
      'metadata failed 3 times.',
    );
  }

  test('refused credentials: names the mechanism and user, never the password', () => {
    const message = connectionProblem(refused(), ['127.0.0.1:9096'], {
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'alice', password: 'hunter2' },
    });
    expect(message).toBe(
      'Kafka at 127.0.0.1:9096 refused the SASL credentials (SCRAM-SHA-512 as alice); check --sasl-mechanism, --sasl-username and --sasl-password (DOGEAR_SASL_USERNAME, DOGEAR_SASL_PASSWORD)',
    );
    expect(message).not.toContain('hunter2');
  });

  test('otherwise the innermost cause, and the flags to try', () => {
    const refusedPort = new AggregateError(
      [new Error('connect ECONNREFUSED 127.0.0.1:1')],
      'Cannot connect to any broker.',
    );
    expect(connectionProblem(refusedPort, ['127.0.0.1:1'], {})).toBe(
      'Cannot reach Kafka at 127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1); is a broker running there (npm run kafka)? Set --brokers or KAFKA_BROKERS, and --tls or --sasl-mechanism if the cluster is secured',
    );
  });

  test('an ACL denial, a token that cannot be made, an IAM token refused, a wrong host name', () => {
    const brokers = ['b-1.orders:9098'];
    const iam = { sasl: { mechanism: 'AWS_MSK_IAM' as const } };
    const denied = Object.assign(new Error('Topic authorization failed.'), {
      code: 'PLT_KFK_PROTOCOL',
      apiId: 'TOPIC_AUTHORIZATION_FAILED',
      serverErrorMessage: null,
    });
    expect(connectionProblem(new AggregateError([denied], 'metadata failed'), brokers, iam)).toBe(
      'Kafka at b-1.orders:9098 denied a request: TOPIC_AUTHORIZATION_FAILED; the principal needs ACLs (with MSK IAM: an IAM policy) for the topic and consumer group',
    );

    const noCredentials = Object.assign(
      new Error('The token provider threw an error.', {
        cause: new Error('Could not load credentials from any providers'),
      }),
      { code: 'PLT_KFK_AUTHENTICATION' },
    );
    expect(
      connectionProblem(new Error('Connection failed.', { cause: noCredentials }), brokers, iam),
    ).toBe(
      'Cannot make the AWS_MSK_IAM token for Kafka at b-1.orders:9098 (Could not load credentials from any providers); check the AWS credentials and AWS_REGION in the environment',
    );

    const refusedToken = Object.assign(new Error('SASL authentication failed.'), {
      code: 'PLT_KFK_AUTHENTICATION',
    });
    expect(connectionProblem(refusedToken, brokers, iam)).toMatch(
      /^Kafka at b-1.orders:9098 refused the AWS_MSK_IAM token; check that an IAM policy allows kafka-cluster:Connect/,
    );

    const altname = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    expect(connectionProblem(altname, ['10.0.0.1:9094'], { tls: true })).toBe(
      "Kafka at 10.0.0.1:9094 presented a certificate for another host name (Hostname/IP does not match certificate's altnames); connect by a name the certificate holds",
    );
  });

  test('a mistake in the options themselves is passed on as it is', () => {
    const problem = new OutputConfigError('MSK IAM authentication needs a region: set AWS_REGION');
    expect(connectionProblem(problem, ['b:9098'], {})).toBe(problem.message);
  });
});
