import { describe, expect, test } from 'vitest';
import { connectionProblem, kafkaClientOptions } from './connection.ts';

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
});
