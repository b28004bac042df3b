/**
 * The SMTP ingress: MX and submission listeners (smtp-server) in one process. It speaks SMTP,
 * applies the abuse limits and the blocklist, and hands every accepted message to Kafka as one
 * MailRecord — answering 250 (with the record id) only after Kafka acknowledged it, 451 4.3.0
 * otherwise. Nothing is parsed or scored here.
 */
import { createHash } from 'node:crypto';
import { domainToASCII } from 'node:url';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession, type SMTPServerOptions } from 'smtp-server';
import { v7 as uuidv7 } from 'uuid';
import type { Registry } from 'prom-client';
import type avro from 'avsc';
import { schema } from '../schemas/index.ts';
import type { Envelope, MailRecord } from '../schemas/types.ts';
import type { KafkaClient, KafkaSettings } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { TOPICS } from '../runtime/topics.ts';
import { BlockList } from './blocklist.ts';
import type { IngressConfig } from './config.ts';
import { HandoffError, KafkaHandoff } from './handoff.ts';
import { Limits } from './limits.ts';
import { describeProblem, LineEndingScanner } from './line-endings.ts';
import { createIngressMetrics, type IngressMetrics } from './metrics.ts';
import { receivedHeader } from './received.ts';
import { installConnectionHooks, setRejectReason } from './smtp-hooks.ts';
import { isAscii, isValidHelo } from './syntax.ts';
import { loadTls, type TlsMaterial } from './tls.ts';
import { UserStore } from './users.ts';
import { loadSubmissionMacKey, submissionMac } from '../runtime/submission-mac.ts';

export type ListenerKind = Envelope['listener'];

export interface IngressTopics {
  inbound: string;
  outbound: string;
  blocklist: string;
}

export const DEFAULT_TOPICS: IngressTopics = { inbound: TOPICS.inboundRaw.name, outbound: TOPICS.outboundRaw.name, blocklist: TOPICS.blocklist.name };

export interface IngressDeps {
  kafka: KafkaClient;
  kafkaSettings: KafkaSettings;
  codec: RecordCodec;
  log: Logger;
  metrics: Registry;
}

export interface RunningIngress {
  endpoints: Record<string, string>;
  ports: Partial<Record<ListenerKind, number>>;
  tls: TlsMaterial;
  handoff: KafkaHandoff;
  blocklist: BlockList;
  metrics: IngressMetrics;
  stop(): Promise<void>;
}

/** An SMTP error reply: smtp-server sends err.responseCode and err.message (which starts with the enhanced code). */
function smtpError(code: number, enhanced: string, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(`${enhanced} ${text}`), { responseCode: code });
}

interface SessionState {
  listener: ListenerKind;
  ip: string;
  counted: boolean;
  tls: Envelope['tls'];
}

/** Every stage section of MailRecord at its default (null): the ingress writes only the envelope. */
function newMailRecord(envelope: Envelope): MailRecord {
  const type = schema('MailRecord').type as avro.types.RecordType;
  const sections = Object.fromEntries(type.fields.filter((f) => f.name !== 'envelope').map((f) => [f.name, f.defaultValue()]));
  return { ...sections, envelope } as MailRecord;
}

const ENDPOINT_NAMES: Record<ListenerKind, string> = { MX: 'smtp-mx', SUBMISSION: 'smtp-submission', SUBMISSIONS: 'smtps-submission' };

export async function startIngress(deps: IngressDeps, config: IngressConfig, topics: IngressTopics = DEFAULT_TOPICS): Promise<RunningIngress> {
  const { log, codec } = deps;
  const metrics = createIngressMetrics(deps.metrics);
  const tls = await loadTls({ tls: config.tls, hostname: config.hostname, dataDir: config.dataDir, log });
  const users = new UserStore(config.usersFile);
  // Created under the data folder on the first start; the DKIM signer reads the same file.
  const macKey = loadSubmissionMacKey({ file: config.submissionMacKeyFile, dataDir: config.dataDir, create: true });
  const limits = new Limits(config);
  const sessions = new Map<string, SessionState>();
  let stopping = false;

  await codec.registerSchema(topics.inbound, 'MailRecord');
  await codec.registerSchema(topics.outbound, 'MailRecord');
  const handoff = new KafkaHandoff({ kafkaSettings: deps.kafkaSettings, deadlineMs: config.kafkaDeadlineMs, log });
  await handoff.start();
  const blocklist = new BlockList({ kafkaSettings: deps.kafkaSettings, codec, topic: topics.blocklist, log, syncTimeoutMs: config.blocklistSyncTimeoutMs });
  blocklist.onChange = (n) => metrics.blocklistEntries.set(n);
  try {
    await blocklist.start();
  } catch (e) {
    await handoff.stop();
    await blocklist.stop();
    throw e;
  }
  if (users.size === 0) log.warn({ usersFile: config.usersFile }, 'no submission users yet: add one with `scop users add <name>`');

  function reject(session: SMTPServerSession, reason: string, err: Error & { responseCode: number }): Error {
    setRejectReason(session, reason);
    return err;
  }

  function handlers(listener: ListenerKind): Partial<SMTPServerOptions> {
    return {
      onConnect(session, cb) {
        const ip = session.remoteAddress;
        const state: SessionState = { listener, ip, counted: false, tls: null };
        sessions.set(session.id, state);
        if (stopping) return cb(reject(session, 'shutdown', smtpError(421, '4.3.2', 'Service shutting down, try again later')));
        const block = blocklist.match(ip);
        if (block) {
          log.info({ ip, prefix: block.prefix, listener }, 'refused a blocked client');
          return cb(reject(session, 'blocklist', smtpError(554, '5.7.1', `Client address ${ip} is blocked: ${block.reason}`)));
        }
        const over = limits.openSession(ip);
        if (over === 'sessions') return cb(reject(session, 'max-sessions', smtpError(421, '4.3.2', 'Too many sessions, try again later')));
        if (over === 'connections-per-ip') return cb(reject(session, 'connections-per-ip', smtpError(421, '4.7.0', `Too many connections from ${ip}, try again later`)));
        state.counted = true;
        metrics.sessions.inc({ listener });
        metrics.activeSessions.inc({ listener });
        cb();
      },

      onClose(session) {
        const state = sessions.get(session.id);
        sessions.delete(session.id);
        if (state?.counted) {
          limits.closeSession(state.ip);
          metrics.activeSessions.dec({ listener });
        }
      },

      onSecure(socket, session, cb) {
        const s = socket as TLSSocket;
        const protocol = s.getProtocol?.() ?? 'unknown';
        const info = { protocol, cipher: s.getCipher?.()?.name ?? 'unknown', implicit: listener === 'SUBMISSIONS' };
        const state = sessions.get(session.id);
        if (state) state.tls = info;
        else sessions.set(session.id, { listener, ip: session.remoteAddress, counted: false, tls: info });
        metrics.tlsSessions.inc({ listener, protocol });
        cb();
      },

      onAuth(auth, session, cb) {
        if (listener === 'MX') return cb(reject(session, 'auth-on-mx', smtpError(503, '5.5.1', 'AUTH is not offered on the MX listener')));
        const name = auth.username ?? '';
        users.verify(name, auth.password ?? '').then(
          (ok) => {
            metrics.auth.inc({ result: ok ? 'ok' : 'failed' });
            if (!ok) {
              log.info({ user: name, ip: session.remoteAddress }, 'authentication failed');
              return cb(reject(session, 'auth-failed', smtpError(535, '5.7.8', 'Authentication credentials invalid')));
            }
            cb(null, { user: name });
          },
          (e: Error) => {
            log.error({ err: e.message }, 'users file unreadable');
            cb(reject(session, 'auth-unavailable', smtpError(454, '4.7.0', 'Temporary authentication failure')));
          },
        );
      },

      // MAIL and RCPT answer on a later tick, never synchronously: smtp-server 3.21.6's
      // SMTPStream.continue() clears its continuation after calling it, so when a pipelined
      // MAIL/RCPT/DATA behind one message runs synchronously into the next end of data, the
      // continuation for that next message is wiped and the session stalls (lost QUIT).
      onMailFrom(address, session, callback) {
        const cb = (err?: Error) => setImmediate(callback, err);
        if (!isValidHelo(session.hostNameAppearsAs)) {
          return cb(reject(session, 'helo-syntax', smtpError(501, '5.5.2', 'The HELO/EHLO argument is not a domain name or address literal; send EHLO with a valid name')));
        }
        if (!session.envelope.smtpUtf8 && !isAscii(address.address)) {
          return cb(reject(session, 'needs-smtputf8', smtpError(553, '5.6.7', 'Non-ASCII address without the SMTPUTF8 parameter')));
        }
        if (!limits.takeMessage(session.remoteAddress)) {
          return cb(reject(session, 'messages-per-ip', smtpError(450, '4.7.1', `Too many messages from ${session.remoteAddress} this minute, try again later`)));
        }
        cb();
      },

      onRcptTo(address, session, callback) {
        const cb = (err?: Error) => setImmediate(callback, err);
        if (!session.envelope.smtpUtf8 && !isAscii(address.address)) {
          return cb(reject(session, 'needs-smtputf8', smtpError(553, '5.6.7', 'Non-ASCII address without the SMTPUTF8 parameter')));
        }
        cb();
      },

      onData(stream, session, cb) {
        receiveMessage(listener, stream, session).then(
          (reply) => cb(null, reply),
          (e: Error) => cb(e),
        );
      },
    };
  }

  async function receiveMessage(listener: ListenerKind, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    const scanner = new LineEndingScanner();
    const hash = createHash('sha256');
    let size = 0;
    await new Promise<void>((ok, fail) => {
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        // SIZE is enforced while streaming: past the limit nothing more is kept.
        if (size > config.maxMessageBytes) {
          chunks.length = 0;
          return;
        }
        chunks.push(chunk);
        scanner.push(chunk);
        hash.update(chunk);
      });
      stream.once('end', ok);
      stream.once('error', fail);
    });
    if (stream.sizeExceeded || size > config.maxMessageBytes) {
      // smtp-server answers 552 5.3.4 itself (rejectOversized); only the reason is ours to record.
      setRejectReason(session, 'size');
      log.info({ size, limit: config.maxMessageBytes, ip: session.remoteAddress }, 'message over the size limit refused');
      return undefined;
    }
    const problem = scanner.finish();
    if (problem) {
      log.info({ problem, ip: session.remoteAddress, listener }, 'message refused: bare line ending or NUL (SMTP smuggling defence)');
      throw reject(session, problem, smtpError(554, '5.6.0', `Message refused: ${describeProblem(problem)}`));
    }

    const recordId = uuidv7();
    const now = new Date();
    const state = sessions.get(session.id);
    const smtpUtf8 = Boolean(session.envelope.smtpUtf8);
    const asGiven = (a: string) => (smtpUtf8 ? a : aLabels(a));
    const rcptTo = session.envelope.rcptTo.map((r) => asGiven(r.address));
    const mailFrom = session.envelope.mailFrom ? asGiven(session.envelope.mailFrom.address) : '';
    const user = typeof session.user === 'string' ? session.user : null;
    // smtp-server shows an unresolved client as "[ip]".
    const rdns = session.clientHostname && !session.clientHostname.startsWith('[') ? session.clientHostname : null;
    const trace = receivedHeader({
      helo: session.hostNameAppearsAs,
      clientHostname: rdns,
      clientIp: session.remoteAddress,
      byHost: config.hostname,
      recordId,
      tls: state?.tls ?? null,
      authenticated: user !== null,
      smtpUtf8,
      rcptTo,
      date: now,
    });
    const raw = Buffer.concat([trace, ...chunks], trace.length + size);
    chunks.length = 0;
    const envelope: Envelope = {
      id: recordId,
      receivedAt: now.getTime(),
      listener,
      clientIp: session.remoteAddress,
      clientPort: session.remotePort,
      clientHostname: rdns,
      helo: session.hostNameAppearsAs,
      tls: state?.tls ?? null,
      authUser: user,
      mailFrom,
      rcptTo,
      smtpUtf8,
      bodyType: bodyTypeOf(session.envelope.bodyType),
      size,
      ingressHost: config.hostname,
      raw,
      traceLength: trace.length,
      messageSha256: hash.digest('hex'),
      submissionMac: null,
    };
    // Proof for the DKIM signer that this submission is ours and whose (runtime/submission-mac.ts).
    if (user !== null) envelope.submissionMac = submissionMac(macKey, envelope, envelope.messageSha256!);
    const topic = listener === 'MX' ? topics.inbound : topics.outbound;
    let value: Buffer;
    try {
      value = await codec.encode<MailRecord>(topic, newMailRecord(envelope));
    } catch (e) {
      log.error({ recordId, err: (e as Error).message.slice(0, 500) }, 'cannot encode the record (schema registry unavailable?)');
      throw reject(session, 'encode', smtpError(451, '4.3.0', 'Local error while storing the message, try again later'));
    }
    const started = process.hrtime.bigint();
    try {
      await handoff.publish(topic, recordId, value, { 'scop-record-id': recordId });
    } catch (e) {
      const reason = e instanceof HandoffError ? e.reason : 'kafka';
      metrics.handoff.observe({ outcome: reason }, Number(process.hrtime.bigint() - started) / 1e9);
      log.warn({ recordId, topic, err: (e as Error).message, listener }, 'Kafka hand-off failed: answered 451');
      throw reject(session, `kafka-${reason}`, smtpError(451, '4.3.0', `Message not stored (${reason === 'deadline' ? 'storage too slow' : 'storage unavailable'}), try again later`));
    }
    metrics.handoff.observe({ outcome: 'acked' }, Number(process.hrtime.bigint() - started) / 1e9);
    metrics.accepted.inc({ listener });
    metrics.bytes.inc({ listener }, size);
    log.info({ recordId, topic, size, rcpts: rcptTo.length, listener, ip: session.remoteAddress }, 'message accepted');
    return `Ok: queued as ${recordId}`;
  }

  const common: SMTPServerOptions = {
    name: config.hostname,
    banner: 'scop',
    key: tls.key,
    cert: tls.cert,
    minVersion: 'TLSv1.2',
    size: config.maxMessageBytes,
    rejectOversized: true,
    maxRecipients: config.maxRecipients,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: true,
    hideREQUIRETLS: true,
    disableReverseLookup: !config.reverseDns,
    socketTimeout: config.socketTimeoutMs,
    closeTimeout: config.shutdownTimeoutMs,
    logger: false,
  };

  const listeners: { kind: ListenerKind; host: string; port: number; options: SMTPServerOptions }[] = [
    { kind: 'MX', ...config.mx, options: { ...common, disabledCommands: ['AUTH'], authOptional: true } },
    { kind: 'SUBMISSION', ...config.submission, options: { ...common, authMethods: ['PLAIN', 'LOGIN'], authOptional: false, allowInsecureAuth: false } },
  ];
  if (config.submissions) {
    listeners.push({ kind: 'SUBMISSIONS', ...config.submissions, options: { ...common, secure: true, authMethods: ['PLAIN', 'LOGIN'], authOptional: false } });
  }

  const servers: { kind: ListenerKind; server: SMTPServer }[] = [];
  const endpoints: Record<string, string> = {};
  const ports: RunningIngress['ports'] = {};
  try {
    for (const l of listeners) {
      const server = new SMTPServer({ ...l.options, ...handlers(l.kind) });
      installConnectionHooks(server, { listener: l.kind, metrics, log });
      server.on('error', (e: Error) => log.debug({ err: e.message, listener: l.kind }, 'smtp connection error'));
      await new Promise<void>((ok, fail) => {
        const onError = (e: NodeJS.ErrnoException) => fail(new Error(`${l.kind} listener ${l.host}:${l.port}: ${e.code ?? e.message} — choose another port (INGRESS_${l.kind}_PORT)`));
        server.server.once('error', onError);
        server.listen(l.port, l.host, () => {
          server.server.off('error', onError);
          ok();
        });
      });
      const addr = server.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : l.port;
      servers.push({ kind: l.kind, server });
      endpoints[ENDPOINT_NAMES[l.kind]] = `${l.host.includes(':') ? `[${l.host}]` : l.host}:${port}`;
      ports[l.kind] = port;
    }
  } catch (e) {
    for (const s of servers) s.server.server.close();
    await handoff.stop();
    await blocklist.stop();
    throw e;
  }
  log.info({ endpoints, tls: tls.selfSigned ? 'self-signed' : 'configured', topics, maxMessageBytes: config.maxMessageBytes }, 'ingress listening');

  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    // Stop accepting; sessions outside a transaction get 421 now, the others once their transaction is over.
    await Promise.all(servers.map(({ server }) => new Promise<void>((ok) => server.server.close(() => ok()))).concat(
      (async () => {
        for (;;) {
          let open = 0;
          for (const { server } of servers) {
            for (const conn of server.connections) {
              const inTransaction = Boolean(conn.session?.envelope?.mailFrom);
              if (!inTransaction || Date.now() - started > config.shutdownTimeoutMs) {
                setRejectReason(conn.session, 'shutdown');
                conn.send(421, '4.3.2 Service shutting down, try again later');
              } else {
                open++;
              }
            }
          }
          if (open === 0) return;
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
    ));
    const sessionsMs = Date.now() - started;
    await handoff.stop();
    const handoffMs = Date.now() - started - sessionsMs;
    await blocklist.stop();
    log.info({ ms: Date.now() - started, sessionsMs, handoffMs }, 'ingress stopped');
  }

  return { endpoints, ports, tls, handoff, blocklist, metrics, stop };
}

function bodyTypeOf(t: string | undefined): Envelope['bodyType'] {
  return t?.toLowerCase() === '8bitmime' ? 'EIGHT_BIT_MIME' : 'SEVEN_BIT';
}

/** smtp-server turns A-label domains into Unicode; without SMTPUTF8 the envelope keeps the ASCII form. */
function aLabels(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0 || isAscii(address)) return address;
  const domain = address.slice(at + 1);
  if (domain.startsWith('[')) return address;
  return `${address.slice(0, at)}@${domainToASCII(domain) || domain}`;
}

export type { SMTPServerAddress };
