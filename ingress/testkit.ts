/**
 * Test helpers for the ingress tests: an ingress on free ports with its own unique topics, a raw
 * SMTP client for edge cases, swaks, and a reader for the records that reached Kafka.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import { Registry } from 'prom-client';
import { freePort } from '../infra/ports.ts';
import { createKafkaClient, type KafkaClient, type KafkaSettings } from '../runtime/kafka.ts';
import { loggerFor } from '../runtime/log.ts';
import { RecordCodec, type RegistrySettings } from '../runtime/registry.ts';
import { eventually, testKafka, testRegistry, uniqueName } from '../runtime/testing.ts';
import { applyTopics, TOPICS, type TopicSpec } from '../runtime/topics.ts';
import type { MailRecord } from '../schemas/types.ts';
import { loadIngressConfig, type IngressConfig } from './config.ts';
import { startIngress, type IngressDeps, type IngressTopics, type RunningIngress } from './ingress.ts';

export const ROOT = resolve(import.meta.dirname, '..');

export interface TestIngress {
  ingress: RunningIngress;
  config: IngressConfig;
  topics: IngressTopics;
  kafka: KafkaClient;
  kafkaSettings: KafkaSettings;
  codec: RecordCodec;
  metrics: Registry;
  dataDir: string;
  stop(): Promise<void>;
}

export function testDataDir(name: string): string {
  const dir = join(ROOT, '.data', 'test-ingress', uniqueName(name));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Creates the ingress topics under unique names, configured like the real ones. */
export async function createIngressTopics(kafka: KafkaClient, prefix: string): Promise<IngressTopics> {
  const topics: IngressTopics = {
    inbound: uniqueName(`${prefix}-in`), outbound: uniqueName(`${prefix}-out`), blocklist: uniqueName(`${prefix}-block`),
    refusals: uniqueName(`${prefix}-refusals`), greylist: uniqueName(`${prefix}-greylist`),
  };
  const specs: TopicSpec[] = [
    { ...TOPICS.inboundRaw, name: topics.inbound, partitions: 2 },
    { ...TOPICS.outboundRaw, name: topics.outbound, partitions: 2 },
    { ...TOPICS.blocklist, name: topics.blocklist },
    { ...TOPICS.smtpRefusals, name: topics.refusals, partitions: 1 },
    { ...TOPICS.greylist, name: topics.greylist },
  ];
  const admin = kafka.admin();
  await admin.connect();
  try {
    await applyTopics(admin, specs);
  } finally {
    await admin.disconnect();
  }
  return topics;
}

export async function startTestIngress(opts: {
  name: string;
  env?: Record<string, string>;
  kafkaSettings?: KafkaSettings;
  registry?: RegistrySettings;
  topics?: IngressTopics;
  dataDir?: string;
  listenOn?: IngressDeps['listenOn'];
}): Promise<TestIngress> {
  const kafkaSettings = opts.kafkaSettings ?? testKafka(`ingress-${opts.name}`);
  const kafka = createKafkaClient(kafkaSettings);
  const codec = new RecordCodec(opts.registry ?? testRegistry());
  const topics = opts.topics ?? (await createIngressTopics(kafka, opts.name));
  const dataDir = opts.dataDir ?? testDataDir(opts.name);
  const env: Record<string, string> = {
    INGRESS_HOSTNAME: 'mx.test.scop',
    INGRESS_MX_PORT: String(await freePort()),
    INGRESS_SUBMISSION_PORT: String(await freePort()),
    INGRESS_SUBMISSIONS_PORT: String(await freePort()),
    INGRESS_REVERSE_DNS: 'false',
    ...opts.env,
  };
  const config = loadIngressConfig(env, dataDir);
  const metrics = new Registry();
  const ingress = await startIngress({ kafka, kafkaSettings, codec, log: loggerFor(`ingress-test-${opts.name}`), metrics, listenOn: opts.listenOn }, config, topics);
  return { ingress, config, topics, kafka, kafkaSettings, codec, metrics, dataDir, stop: () => ingress.stop() };
}

/** Reads decoded MailRecords from a topic (from the beginning) until `done` says so. */
export async function readRecords(
  kafka: KafkaClient,
  codec: RecordCodec,
  topic: string,
  done: (records: MailRecord[]) => boolean,
  opts: { timeoutMs?: number; settleMs?: number } = {},
): Promise<MailRecord[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('ingress-reader'), maxWaitTimeMs: 200 });
  const records: MailRecord[] = [];
  try {
    await consumer.run({
      topics: [topic], fromBeginning: true, onCrash: () => {},
      eachBatch: async (b) => {
        for (const m of b.records) if (m.value) records.push(await codec.decode<MailRecord>(m.value));
      },
    });
    await eventually(() => (done(records) ? true : undefined), opts.timeoutMs ?? 30000, `records on ${topic}`);
    // Give late (unexpected) records a chance to show up, so "exactly once" checks can fail.
    if (opts.settleMs) await new Promise((r) => setTimeout(r, opts.settleMs));
    return [...records];
  } finally {
    await consumer.stop();
  }
}

export interface SmtpReply {
  code: number;
  lines: string[];
  text: string;
}

/** A raw SMTP client: exact bytes out, whole replies in. */
export class SmtpClient {
  private buf = '';
  private waiters: ((r: SmtpReply | Error) => void)[] = [];
  private replies: (SmtpReply | Error)[] = [];
  closed: Promise<void>;
  private ended = false;

  private constructor(public socket: net.Socket | tls.TLSSocket) {
    this.closed = new Promise((ok) => socket.once('close', () => ok()));
    this.attach(socket);
  }

  private attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', (d: Buffer) => this.onData(d.toString('latin1')));
    socket.on('error', () => {});
    socket.once('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(new Error('connection closed'));
    });
  }

  static async connect(port: number, opts: { host?: string; implicitTls?: boolean; localAddress?: string } = {}): Promise<SmtpClient> {
    const host = opts.host ?? '127.0.0.1';
    const socket = opts.implicitTls
      ? tls.connect({ host, port, rejectUnauthorized: false })
      : net.connect({ host, port, localAddress: opts.localAddress });
    await new Promise<void>((ok, fail) => {
      socket.once(opts.implicitTls ? 'secureConnect' : 'connect', () => ok());
      socket.once('error', fail);
    });
    socket.setNoDelay(true);
    return new SmtpClient(socket);
  }

  private pendingLines: string[] = [];

  private onData(s: string): void {
    this.buf += s;
    let i: number;
    while ((i = this.buf.indexOf('\r\n')) !== -1) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      this.pendingLines.push(line);
      if (/^\d{3}( |$)/.test(line)) {
        const all = this.pendingLines;
        this.pendingLines = [];
        const reply: SmtpReply = { code: Number(line.slice(0, 3)), lines: all, text: all.join('\n') };
        const w = this.waiters.shift();
        if (w) w(reply);
        else this.replies.push(reply);
      }
    }
  }

  reply(timeoutMs = 15000): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return queued instanceof Error ? Promise.reject(queued) : Promise.resolve(queued);
    if (this.ended) return Promise.reject(new Error('connection closed'));
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        fail(new Error(`no SMTP reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: SmtpReply | Error) => {
        clearTimeout(timer);
        if (r instanceof Error) fail(r);
        else ok(r);
      };
      this.waiters.push(waiter);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  async cmd(line: string, timeoutMs?: number): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  /** STARTTLS, then swaps the socket for the TLS one. */
  async starttls(): Promise<SmtpReply> {
    const r = await this.cmd('STARTTLS');
    if (r.code !== 220) return r;
    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = tls.connect({ socket: plain, rejectUnauthorized: false, servername: 'mx.test.scop' });
    await new Promise<void>((ok, fail) => {
      secure.once('secureConnect', () => ok());
      secure.once('error', fail);
    });
    this.socket = secure;
    this.attach(secure);
    return r;
  }

  /** Sends the message after DATA (dot-stuffing is the caller's job) plus the terminator. */
  async data(body: string | Buffer, timeoutMs?: number): Promise<SmtpReply> {
    const r = await this.cmd('DATA');
    if (r.code !== 354) return r;
    this.write(Buffer.concat([Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), Buffer.from('.\r\n')]));
    return this.reply(timeoutMs);
  }

  /** AUTH PLAIN with the given credentials (after STARTTLS on a submission listener). */
  authPlain(user: string, password: string): Promise<SmtpReply> {
    return this.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A submission session up to AUTH: greeting, EHLO, STARTTLS, EHLO (from `localAddress`). */
export async function submissionClient(port: number, localAddress = '127.0.0.1'): Promise<SmtpClient> {
  const c = await SmtpClient.connect(port, { localAddress });
  const greeting = await c.reply();
  if (greeting.code !== 220) throw new Error(`greeting: ${greeting.text}`);
  await c.cmd('EHLO laptop.example.com');
  const tls = await c.starttls();
  if (tls.code !== 220) throw new Error(`STARTTLS: ${tls.text}`);
  await c.cmd('EHLO laptop.example.com');
  return c;
}

export function recordIdOf(reply: SmtpReply | string): string | undefined {
  const text = typeof reply === 'string' ? reply : reply.text;
  return /queued as ([0-9a-f-]{36})/.exec(text)?.[1];
}

export interface SwaksResult {
  code: number | null;
  out: string;
  recordId?: string;
}

/** Runs swaks (Debian package) against the ingress. */
export function swaks(args: string[], timeoutMs = 60000): Promise<SwaksResult> {
  return new Promise((ok, fail) => {
    const child = spawn('swaks', ['--timeout', '60', '--hide-informational', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(new Error(`swaks could not run (${e.message}); install it: apt-get install -y swaks`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      ok({ code, out, recordId: recordIdOf(out) });
    });
  });
}

/** A small valid message with CRLF line endings and a unique Message-ID. */
export function sampleMessage(opts: { subject?: string; from?: string; to?: string; body?: string } = {}): string {
  const id = uniqueName('msg');
  return [
    `From: ${opts.from ?? 'alice@example.com'}`,
    `To: ${opts.to ?? 'bob@example.net'}`,
    `Subject: ${opts.subject ?? 'test'}`,
    `Message-ID: <${id}@example.com>`,
    'Date: Thu, 27 Nov 2025 10:00:00 +0000',
    '',
    opts.body ?? 'Hello.',
    '',
  ].join('\r\n');
}

/** Scrapes one sample (sum over matching label sets) from a registry. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  return data.values
    .filter((v) => Object.entries(labels).every(([k, val]) => String((v.labels as Record<string, unknown>)[k]) === val))
    .filter((v) => !('metricName' in v) || v.metricName === name || v.metricName === `${name}_count`)
    .reduce((sum, v) => sum + v.value, 0);
}
