/**
 * The schema registries the suite runs (test/setup/registries.ts) are real servers that answer
 * as the services do: moto's Glue Schema Registry API and Apicurio's Confluent-compatible API.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AwsClient } from 'aws4fetch';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type BasicAuth,
  type ConfluentRegistry,
  findJava21,
  registerSchema,
  setCompatibility,
  startConfluentRegistry,
} from '../infra/confluent-registry.ts';
import { GLUE_CREDENTIALS, registerGlueSchemaVersions } from '../infra/glue-registry.ts';

const orderV1 = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'quantity', type: 'int' },
  ],
};
/** v1 plus a field with a default: a BACKWARD-compatible change. */
const orderV2 = {
  ...orderV1,
  fields: [...orderV1.fields, { name: 'note', type: 'string', default: '' }],
};
/** `quantity` turned from int into string: no reader of v2 can read it. */
const orderIncompatible = {
  ...orderV1,
  fields: [orderV1.fields[0], { name: 'quantity', type: 'string' }, orderV2.fields[2]],
};

describe('Glue Schema Registry (moto)', () => {
  const endpoint = inject('glueRegistryEndpoint');
  const region = inject('glueRegistryRegion');
  // The server is shared by the run's test files; this one keeps to a registry of its own.
  const registryName = `registries-test-${randomUUID().slice(0, 8)}`;

  /** GetSchemaVersion as dogear's client will call it: JSON 1.1, signed for service glue. */
  async function getSchemaVersion(id: string) {
    const client = new AwsClient({ ...GLUE_CREDENTIALS, service: 'glue', region, retries: 0 });
    const response = await client.fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AWSGlue.GetSchemaVersion',
      },
      body: JSON.stringify({ SchemaVersionId: id }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('registers Avro v1 and v2 and reads each back by its version id', async () => {
    const { versionIds, schemaArn } = await registerGlueSchemaVersions(endpoint, {
      registryName,
      schemaName: 'orders',
      dataFormat: 'AVRO',
      compatibility: 'BACKWARD',
      definitions: [JSON.stringify(orderV1), JSON.stringify(orderV2)],
      region,
    });
    expect(versionIds).toHaveLength(2);
    for (const id of versionIds) expect(id).toMatch(/^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/);
    expect(new Set(versionIds).size).toBe(2);

    const [v1, v2] = await Promise.all(versionIds.map(getSchemaVersion));
    expect(v1).toMatchObject({
      status: 200,
      body: {
        SchemaVersionId: versionIds[0],
        VersionNumber: 1,
        DataFormat: 'AVRO',
        SchemaArn: schemaArn,
        Status: 'AVAILABLE',
      },
    });
    expect(JSON.parse(String(v1?.body.SchemaDefinition))).toEqual(orderV1);
    expect(v2).toMatchObject({
      status: 200,
      body: { SchemaVersionId: versionIds[1], VersionNumber: 2, Status: 'AVAILABLE' },
    });
    expect(JSON.parse(String(v2?.body.SchemaDefinition))).toEqual(orderV2);
  });

  it('answers EntityNotFoundException for a version id it never issued', async () => {
    const { status, body } = await getSchemaVersion(randomUUID());
    expect(status).toBe(400);
    expect(body.__type).toBe('EntityNotFoundException');
  });
});

describe('Confluent-compatible registry (Apicurio)', () => {
  const url = inject('confluentRegistryUrl');
  // Shared by the run's test files: a subject of this file's own, named as TopicNameStrategy
  // names a topic's value subject.
  const subject = `registries-test-${randomUUID().slice(0, 8)}.orders-value`;

  it('gives each version an id, serves it by id, and refuses an incompatible change', async () => {
    const v1 = await registerSchema(url, subject, JSON.stringify(orderV1));
    await setCompatibility(url, subject, 'BACKWARD');
    const v2 = await registerSchema(url, subject, JSON.stringify(orderV2));
    expect(v2).not.toBe(v1);
    // The same schema again is the same id, as Confluent's serializers rely on.
    expect(await registerSchema(url, subject, JSON.stringify(orderV2))).toBe(v2);

    for (const [id, schema] of [
      [v1, orderV1],
      [v2, orderV2],
    ] as const) {
      const response = await fetch(`${url}/schemas/ids/${id}`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { schema: string; schemaType?: string };
      expect(JSON.parse(body.schema)).toEqual(schema);
      expect(body.schemaType ?? 'AVRO').toBe('AVRO');
    }

    const latest = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions/latest`);
    expect(await latest.json()).toMatchObject({ subject, id: v2, version: 2 });

    const refused = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(orderIncompatible) }),
    });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error_code: number }).error_code).toBe(409);
  });

  it('answers 404 with error_code 40403 for an id it never issued', async () => {
    const response = await fetch(`${url}/schemas/ids/987654321`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error_code: number }).error_code).toBe(40403);
  });
});

describe('Confluent-compatible registry with basic auth (Apicurio)', () => {
  const auth: BasicAuth = { username: 'dogear', password: `pw-${randomUUID()}` };
  let registry: ConfluentRegistry;
  beforeAll(async () => {
    registry = await startConfluentRegistry({ basicAuth: auth });
  });
  afterAll(() => registry?.stop());

  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  });

  it('refuses calls without credentials or with a wrong password, and serves them with the right ones', async () => {
    const subjects = `${registry.url}/subjects`;
    expect((await fetch(subjects)).status).toBe(401);
    expect((await fetch(subjects, { headers: basic(auth.username, 'wrong') })).status).toBe(401);
    const allowed = await fetch(subjects, { headers: basic(auth.username, auth.password) });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual([]);

    const id = await registerSchema(
      registry.url,
      'orders-value',
      JSON.stringify(orderV1),
      'AVRO',
      auth,
    );
    expect((await fetch(`${registry.url}/schemas/ids/${id}`)).status).toBe(401);
    const byId = await fetch(`${registry.url}/schemas/ids/${id}`, {
      headers: basic(auth.username, auth.password),
    });
    expect(byId.status).toBe(200);
    expect(JSON.parse(((await byId.json()) as { schema: string }).schema)).toEqual(orderV1);
  });
});

describe('the JDK Apicurio runs on', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });
  /** A folder of JDKs, each shaped like one: bin/java and the `release` file naming its version. */
  function jvmRoot(jdks: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'dogear-jvm-'));
    roots.push(root);
    for (const [name, version] of Object.entries(jdks)) {
      mkdirSync(join(root, name, 'bin'), { recursive: true });
      writeFileSync(join(root, name, 'bin', 'java'), '');
      writeFileSync(join(root, name, 'release'), `IMPLEMENTOR="test"\nJAVA_VERSION="${version}"\n`);
    }
    return root;
  }

  it('refuses Java 17, naming the Java it found and what to install', () => {
    const root = jvmRoot({ 'java-17-openjdk-amd64': '17.0.15' });
    const java17 = join(root, 'java-17-openjdk-amd64');
    expect(() => findJava21({ javaHome: java17, jvmRoot: root })).toThrow(
      `needs Java 21 or later, but found Java 17 (${java17}) with JAVA_HOME=${java17}. Install a JDK 21+ (e.g. Eclipse Temurin 25 into ${join(root, 'temurin-25-jdk-amd64')}) and point JAVA_HOME at it.`,
    );
  });

  it('passes over a JAVA_HOME older than 21 to a newer JDK beside it', () => {
    const root = jvmRoot({ 'java-17-openjdk-amd64': '17.0.15', 'openjdk-21': '21.0.9' });
    expect(findJava21({ javaHome: join(root, 'java-17-openjdk-amd64'), jvmRoot: root })).toBe(
      join(root, 'openjdk-21', 'bin', 'java'),
    );
  });
});
