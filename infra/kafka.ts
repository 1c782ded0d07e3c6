/**
 * A real single-node Apache Kafka broker (KRaft: broker and controller in one JVM) for development
 * and tests, run from Kafka's own jars that Maven resolves from infra/kafka/pom.xml.
 *
 * Library: `await startKafka()` (used by test/setup/kafka.ts).
 * Script:  `tsx infra/kafka.ts [--port N] [--controller-port N]` prints `KAFKA_BROKERS=<host:port>`
 *          (and, on stderr, the SASL listener and its user) and keeps the broker running until
 *          SIGINT/SIGTERM.
 *
 * Set KAFKA_BROKERS to use an already running cluster instead; nothing is started then.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { onlyOnce, runAsScript, secondsSince } from './script.ts';
import { fillOnce } from './stamped-folder.ts';

export interface KafkaOptions {
  /** PLAINTEXT listener for clients; a free port when omitted. */
  port?: number;
  /** KRaft controller listener; a free port when omitted. */
  controllerPort?: number;
  /** Receives every line the broker prints (it logs at WARN, so this stays quiet). */
  log?: (line: string) => void;
}

export interface KafkaBroker {
  /** Bootstrap servers, e.g. `127.0.0.1:40123`. */
  brokers: string;
  port: number;
  /**
   * A second listener that wants SASL (PLAIN or SCRAM-SHA-512, over plaintext) with these
   * credentials; absent when KAFKA_BROKERS points at an external cluster.
   */
  sasl?: KafkaSaslListener;
  /**
   * A third listener that speaks TLS with a self-signed certificate for `localhost`, made for
   * this broker; absent on an external cluster.
   */
  tls?: KafkaTlsListener;
  /** The broker's `log.dirs`; empty when KAFKA_BROKERS points at an external cluster. */
  dataDir: string;
  /**
   * Shuts the broker down (SIGTERM, as an operator would) and keeps its data and ports, so that
   * `restart()` brings the same cluster back; absent on an external cluster.
   */
  halt?(): Promise<void>;
  /** Starts a halted broker again on the same ports with the same data. */
  restart?(): Promise<void>;
  stop(): Promise<void>;
}

export interface KafkaSaslListener {
  brokers: string;
  mechanisms: readonly ['PLAIN', 'SCRAM-SHA-512'];
  username: string;
  password: string;
}

export interface KafkaTlsListener {
  /** `localhost:<port>`: the name the certificate is for. */
  brokers: string;
  /** The broker's certificate (PEM), the one CA a client must trust to connect. */
  caFile: string;
}

const HOST = '127.0.0.1';
/** Protects only a throwaway keystore in the broker's temp folder. */
const KEYSTORE_PASSWORD = 'dogear-tls';
/** The one user of the SASL listener, known to both PLAIN and SCRAM. */
const SASL_USER = { username: 'dogear', password: 'dogear-secret' };
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 15_000;
const TAIL_LINES = 30;
/** Logged once by KafkaRaftServer after every listener and the metadata quorum are up. */
const STARTED_MESSAGE = 'Kafka Server started';
/** `\tat ...` and `... 12 more`: left out of error tails, or they crowd out the actual messages. */
const STACK_FRAME = /^\s+(at |\.\.\. \d+ more)/;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const pomFile = join(repoRoot, 'infra', 'kafka', 'pom.xml');
const libDir = join(repoRoot, '.dogear', 'kafka', 'lib');

// Root at WARN keeps test output clean; KafkaRaftServer stays at INFO only so that the
// "Kafka Server started" line, our readiness signal, still gets printed.
const LOG4J2_PROPERTIES = `appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
`;

export async function startKafka(options: KafkaOptions = {}): Promise<KafkaBroker> {
  const external = process.env.KAFKA_BROKERS;
  if (external) return externalCluster(external);

  const lib = await ensureKafkaJars();
  const { port, controllerPort, saslPort, tlsPort } = await choosePorts(options);
  const dir = await mkdtemp(join(tmpdir(), 'dogear-kafka-'));
  const dataDir = join(dir, 'data');
  try {
    const keystore = keystoreFiles(dir);
    const config = await writeConfig(dir, {
      port,
      controllerPort,
      saslPort,
      tlsPort,
      keystore: keystore.file,
      dataDir,
    });
    // Two short JVMs, one per core: the broker reads the keystore only when it starts.
    await Promise.all([makeKeystore(keystore), formatStorage(lib, config)]);
    let broker = launchBroker(lib, config, options.log);
    const ready = async () => {
      try {
        await waitUntilReady(broker, port);
      } catch (error) {
        await stopProcess(broker);
        throw error;
      }
    };
    await ready();
    return {
      brokers: `${HOST}:${port}`,
      port,
      sasl: {
        brokers: `${HOST}:${saslPort}`,
        mechanisms: ['PLAIN', 'SCRAM-SHA-512'],
        ...SASL_USER,
      },
      tls: { brokers: `localhost:${tlsPort}`, caFile: keystore.caFile },
      dataDir,
      halt: () => stopProcess(broker),
      restart: async () => {
        if (broker.child.exitCode === null && broker.child.signalCode === null) return;
        broker = launchBroker(lib, config, options.log);
        await ready();
      },
      stop: onlyOnce(async () => {
        await stopProcess(broker);
        await rm(dir, { recursive: true, force: true });
      }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

// Kafka's tools log through log4j2 as the broker does: warnings and errors only, on stderr, so
// that stdout is the tool's answer.
const TOOLS_LOG4J2_PROPERTIES = `appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
`;

/**
 * Runs one of Kafka's own command-line tools from the broker's jars, the way `bin/kafka-*.sh`
 * would: `org.apache.kafka.tools.consumer.group.ConsumerGroupCommand` (kafka-consumer-groups),
 * `org.apache.kafka.tools.consumer.ConsoleConsumer` (kafka-console-consumer),
 * `org.apache.kafka.tools.GetOffsetShell` (kafka-get-offsets), … Resolves with its stdout.
 */
export async function runKafkaTool(mainClass: string, args: readonly string[]): Promise<string> {
  const lib = await ensureKafkaJars();
  const log4jProperties = join(lib, '..', 'tools-log4j2.properties');
  await writeFile(log4jProperties, TOOLS_LOG4J2_PROPERTIES);
  return run(javaBin(), [
    ...jvmOptions(lib, { serverProperties: '', log4jProperties }, '256m'),
    '-XX:TieredStopAtLevel=1', // a tool runs for seconds: the optimising JIT would never pay off
    mainClass,
    ...args,
  ]);
}

/** One message as Kafka's ConsoleConsumer prints it: headers as `name:value` joined by `,`. */
export interface ConsoleMessage {
  partition: number;
  offset: number;
  headers: string;
  key: string;
  value: string;
}

/**
 * `kafka-console-consumer --from-beginning`: up to `maxMessages` of `topic` (all there are when
 * unset, until `timeoutMs` passes without one), read by Kafka's own consumer, not dogear's.
 */
export async function consoleConsume(
  brokers: string,
  topic: string,
  options: { maxMessages?: number; timeoutMs?: number } = {},
): Promise<ConsoleMessage[]> {
  const print = ['partition', 'offset', 'headers', 'key', 'value'].flatMap((field) => [
    '--formatter-property',
    `print.${field}=true`,
  ]);
  const out = await runKafkaTool('org.apache.kafka.tools.consumer.ConsoleConsumer', [
    '--bootstrap-server',
    brokers,
    '--topic',
    topic,
    '--from-beginning',
    ...(options.maxMessages === undefined ? [] : ['--max-messages', String(options.maxMessages)]),
    '--timeout-ms',
    String(options.timeoutMs ?? 30_000),
    ...print,
  ]);
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      // Partition:1\tOffset:7\t<headers>\t<key>\t<value>
      const [partition, offset, headers, key, value] = line.split('\t');
      return {
        partition: Number(partition!.replace('Partition:', '')),
        offset: Number(offset!.replace('Offset:', '')),
        headers: headers!,
        key: key!,
        value: value!,
      };
    });
}

/** One partition of a consumer group as Kafka's ConsumerGroupCommand describes it. */
export interface GroupPartitionOffsets {
  topic: string;
  partition: number;
  /** The committed offset; `undefined` when the group has committed none for the partition. */
  committed: number | undefined;
  logEnd: number;
  lag: number | undefined;
}

/**
 * `kafka-consumer-groups --describe --group <group>`: each partition's committed offset, log end
 * offset and lag, as Kafka itself reports them (not through dogear's client).
 */
export async function describeConsumerGroup(
  brokers: string,
  group: string,
): Promise<GroupPartitionOffsets[]> {
  const out = await runKafkaTool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', [
    '--bootstrap-server',
    brokers,
    '--describe',
    '--group',
    group,
  ]);
  const number = (text: string | undefined) =>
    text === undefined || text === '-' ? undefined : Number(text);
  // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((columns) => columns[0] === group && /^\d+$/.test(columns[2] ?? ''))
    .map(([, topic, partition, committed, logEnd, lag]) => ({
      topic: topic!,
      partition: Number(partition),
      committed: number(committed),
      logEnd: Number(logEnd),
      lag: number(lag),
    }))
    .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}

function externalCluster(brokers: string): KafkaBroker {
  const first = brokers.split(',')[0] ?? '';
  const port = Number(first.slice(first.lastIndexOf(':') + 1));
  return { brokers, port: Number.isInteger(port) ? port : 0, dataDir: '', stop: async () => {} };
}

/**
 * Copies the broker's runtime jars into .dogear/kafka/lib, once per version of the pom. Returns the
 * folder; `<folder>/*` is the classpath.
 */
export async function ensureKafkaJars(): Promise<string> {
  const pomHash = createHash('sha256')
    .update(await readFile(pomFile))
    .digest('hex');
  const started = performance.now();
  const resolved = await fillOnce(libDir, pomHash, async (staging) => {
    await run('mvn', [
      '-q',
      '-B',
      '-f',
      pomFile,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${staging}`,
    ]);
  });
  if (resolved) {
    process.stderr.write(
      `[kafka] resolved broker jars with Maven in ${secondsSince(started)} (${relative(process.cwd(), libDir)})\n`,
    );
  }
  return libDir;
}

async function choosePorts(
  options: KafkaOptions,
): Promise<{ port: number; controllerPort: number; saslPort: number; tlsPort: number }> {
  const missing = [options.port, options.controllerPort].filter((p) => p === undefined).length;
  const free = await freePorts(missing + 2);
  return {
    port: options.port ?? free.shift()!,
    controllerPort: options.controllerPort ?? free.shift()!,
    saslPort: free.shift()!,
    tlsPort: free.shift()!,
  };
}

/** Holds every probe socket open until all are bound, so the ports are distinct. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, HOST, resolve);
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

interface BrokerConfig {
  serverProperties: string;
  log4jProperties: string;
}

async function writeConfig(
  dir: string,
  {
    port,
    controllerPort,
    saslPort,
    tlsPort,
    keystore,
    dataDir,
  }: {
    port: number;
    controllerPort: number;
    saslPort: number;
    tlsPort: number;
    keystore: string;
    dataDir: string;
  },
): Promise<BrokerConfig> {
  const sasl = `SASL_PLAINTEXT://${HOST}:${saslPort}`;
  const properties = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // Kafka 4.x dynamic quorum: with --standalone, format makes this node the only voter.
    'controller.quorum.bootstrap.servers': `${HOST}:${controllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${port},${sasl},SSL://${HOST}:${tlsPort},CONTROLLER://${HOST}:${controllerPort}`,
    // Advertised by the name in its certificate, so clients verify it as they would a real one.
    'advertised.listeners': `PLAINTEXT://${HOST}:${port},${sasl},SSL://localhost:${tlsPort}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map':
      'PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT',
    'listener.name.ssl.ssl.keystore.location': keystore,
    'listener.name.ssl.ssl.keystore.type': 'PKCS12',
    'listener.name.ssl.ssl.keystore.password': KEYSTORE_PASSWORD,
    'listener.name.ssl.ssl.key.password': KEYSTORE_PASSWORD,
    // The SASL listener, for testing the clients' credentials: MSK's SCRAM is SHA-512, and
    // PLAIN is what Confluent Cloud and many self-managed clusters use.
    'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-512',
    'listener.name.sasl_plaintext.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_${SASL_USER.username}="${SASL_USER.password}";`,
    'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config':
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'log.dirs': dataDir,
    // Recordings keep their timestamps, often older than the default 7 days of retention: the
    // first retention check (30 s after start) would delete what `dogear produce` just wrote.
    'log.retention.ms': -1,
    'num.partitions': 1,
    'auto.create.topics.enable': true,
    // A single broker can only ever hold one replica of anything.
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Tests start one consumer at a time; the default 3 s wait for more members only slows them.
    'group.initial.rebalance.delay.ms': 0,
  };
  const config = {
    serverProperties: join(dir, 'server.properties'),
    log4jProperties: join(dir, 'log4j2.properties'),
  };
  const lines = Object.entries(properties).map(([key, value]) => `${key}=${value}`);
  await writeFile(config.serverProperties, `${lines.join('\n')}\n`);
  await writeFile(config.log4jProperties, LOG4J2_PROPERTIES);
  return config;
}

/**
 * A key pair and self-signed certificate for `localhost` (and 127.0.0.1), valid for two days,
 * made by the JDK's keytool: the TLS listener's keystore, and the certificate as the CA file a
 * client trusts.
 */
async function makeKeystore({ file, caFile }: KeystoreFiles): Promise<void> {
  const store = ['-alias', 'broker', '-keystore', file, '-storepass', KEYSTORE_PASSWORD];
  await run(javaTool('keytool'), [
    '-genkeypair',
    ...store,
    '-storetype',
    'PKCS12',
    '-keypass',
    KEYSTORE_PASSWORD,
    '-keyalg',
    'EC',
    '-groupname',
    'secp256r1',
    '-dname',
    'CN=localhost',
    '-ext',
    'SAN=DNS:localhost,IP:127.0.0.1',
    '-validity',
    '2',
  ]);
  await run(javaTool('keytool'), ['-exportcert', '-rfc', ...store, '-file', caFile]);
}

interface KeystoreFiles {
  /** The broker's key and certificate (PKCS12). */
  file: string;
  /** The certificate alone (PEM), for clients to trust. */
  caFile: string;
}

function keystoreFiles(dir: string): KeystoreFiles {
  return { file: join(dir, 'broker.p12'), caFile: join(dir, 'broker-ca.pem') };
}

/** KRaft refuses to start on an unformatted log dir; this is `kafka-storage.sh format`. */
async function formatStorage(lib: string, config: BrokerConfig): Promise<void> {
  await run(javaBin(), [
    ...jvmOptions(lib, config, '256m'),
    '-XX:TieredStopAtLevel=1', // a one-second tool: the optimising JIT would never pay off
    'kafka.tools.StorageTool',
    'format',
    '--standalone',
    '--cluster-id',
    randomClusterId(),
    // SCRAM credentials live in the cluster metadata; format writes the first ones.
    '--add-scram',
    `SCRAM-SHA-512=[name=${SASL_USER.username},password=${SASL_USER.password}]`,
    '--config',
    config.serverProperties,
  ]);
}

/**
 * Same shape as Kafka's Uuid.randomUuid(): 16 random bytes, base64url without padding. Kafka's
 * generator re-rolls ids starting with '-' because the CLI would read them as an option.
 */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function javaBin(): string {
  return javaTool('java');
}

function javaTool(name: string): string {
  const home = process.env.JAVA_HOME;
  return home ? join(home, 'bin', name) : name;
}

function jvmOptions(lib: string, config: BrokerConfig, maxHeap: string): string[] {
  return [
    `-Xmx${maxHeap}`,
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${config.log4jProperties}`,
    '-cp',
    join(lib, '*'), // the JVM expands this wildcard itself, so no shell is needed
  ];
}

interface BrokerProcess {
  child: ChildProcess;
  /** The last lines of stdout and stderr, stack frames left out, for error messages. */
  tail: string[];
  started: Promise<void>;
  exited: Promise<string>;
}

function launchBroker(
  lib: string,
  config: BrokerConfig,
  log: ((line: string) => void) | undefined,
): BrokerProcess {
  const child = spawn(
    javaBin(),
    [...jvmOptions(lib, config, '512m'), 'kafka.Kafka', config.serverProperties],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const tail: string[] = [];
  let markStarted = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      log?.(line);
      if (STACK_FRAME.test(line)) return;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      if (line.includes(STARTED_MESSAGE)) markStarted();
    });
  }
  const exited = exitOf(child);
  // A test runner that exits without calling stop() must not leave an orphaned JVM behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const forget = () => process.off('exit', killOnExit);
  exited.then(forget, forget);
  return { child, tail, started, exited };
}

async function waitUntilReady(broker: BrokerProcess, port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(brokerError(broker, `was not ready within ${READY_TIMEOUT_MS / 1000} s`)),
      READY_TIMEOUT_MS,
    );
  });
  const died = broker.exited.then((how) => {
    throw brokerError(broker, `${how} before it was ready`);
  });
  const ready = broker.started.then(() => waitForPort(port, deadline));
  try {
    await Promise.race([ready, died, timedOut]);
  } finally {
    clearTimeout(timer);
    died.catch(() => {}); // it rejects later, on the normal stop, with nobody listening
  }
}

/** The started line comes after the listeners bind, so this normally succeeds at once. */
async function waitForPort(port: number, deadline: number): Promise<void> {
  while (!(await canConnect(port))) {
    if (Date.now() > deadline) throw new Error(`port ${HOST}:${port} never accepted connections`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function brokerError(broker: BrokerProcess, what: string): Error {
  const output = broker.tail.length > 0 ? broker.tail.join('\n') : '(no output)';
  return new Error(
    `Kafka broker ${what}. Last ${broker.tail.length} lines of its output:\n${output}`,
  );
}

async function stopProcess({ child, exited }: BrokerProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    // SIGTERM runs Kafka's shutdown hook (controlled shutdown, flushes the log).
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited.catch(() => {});
    clearTimeout(timer);
  }
}

/** Resolves with a description of how the process ended; rejects if it could not start. */
function exitOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    child.once('error', (error) => reject(launchError(error)));
    // 'close' rather than 'exit': it waits for stdout and stderr to be fully read.
    child.once('close', (code, signal) =>
      resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`),
    );
  });
}

/** Runs a command to completion; on failure the error carries its output. */
async function run(command: string, args: string[]): Promise<string> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk;
    output += chunk;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  const how = await exitOf(child);
  if (child.exitCode !== 0) {
    throw new Error(`${command} ${args.join(' ')}\n${how}:\n${output.trim()}`);
  }
  return stdout;
}

function launchError(error: NodeJS.ErrnoException): Error {
  if (error.code !== 'ENOENT') return error;
  return new Error(
    `${error.path} was not found on PATH: the local Kafka broker needs Java 17+ and Maven`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, 'controller-port': { type: 'string' } },
  });
  const started = performance.now();
  const kafka = await startKafka({
    port: optionalPort(values.port),
    controllerPort: optionalPort(values['controller-port']),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(`[kafka] broker ready in ${secondsSince(started)} (${kafka.dataDir})\n`);
  process.stdout.write(`KAFKA_BROKERS=${kafka.brokers}\n`);
  if (kafka.sasl) {
    const { brokers, mechanisms, username, password } = kafka.sasl;
    process.stderr.write(
      `[kafka] SASL (${mechanisms.join(' or ')}) on ${brokers} as ${username} / ${password}\n`,
    );
  }
  if (kafka.tls) {
    process.stderr.write(`[kafka] TLS on ${kafka.tls.brokers}, CA ${kafka.tls.caFile}\n`);
  }

  const shutdown = async () => {
    await kafka.stop();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

function optionalPort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`bad port: ${value}`);
  return port;
}

runAsScript(import.meta.url, main);
