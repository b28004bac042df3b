/**
 * The SMTP ingress: MX and submission listeners (smtp-server) in one process. It speaks SMTP,
 * applies the abuse limits and the blocklist, and hands every accepted message to Kafka as one
 * MailRecord — answering 250 (with the record id) only after Kafka acknowledged it, 451 4.3.0
 * otherwise. Nothing is parsed or scored here.
 */
import { createHash } from 'node:crypto';
import type { Server } from 'node:net';
import { domainToASCII } from 'node:url';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession, type SMTPServerOptions } from 'smtp-server';
import { v7 as uuidv7 } from 'uuid';
import type { Registry } from 'prom-client';
import type { Envelope } from '../schemas/types.ts';
import type { KafkaClient, KafkaSettings } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import { TOPICS } from '../runtime/topics.ts';
import { AuthGuard, HashBusyError, HashLimiter } from './auth-guard.ts';
import { BlockList } from './blocklist.ts';
import { DnsCache } from './dns-cache.ts';
import { Dnsbl, type DnsblResult } from './dnsbl.ts';
import { confirmClient, reverseResolver } from './fcrdns.ts';
import { Greylist } from './greylist.ts';
import { RecipientPolicy } from './recipients.ts';
import { RefusalLog, type Refusal } from './refusals.ts';
import { checkSpfAtSmtp } from './spf-check.ts';
import { handoffKafkaSettings, type IngressConfig } from './config.ts';
import { HandoffError, KafkaHandoff } from './handoff.ts';
import { ThreadedHandoff } from './handoff-thread.ts';
import { Limits } from './limits.ts';
import { describeProblem, LineEndingScanner } from './line-endings.ts';
import { MemoryBudget } from './memory-budget.ts';
import { createIngressMetrics, type IngressMetrics } from './metrics.ts';
import { receivedHeader } from './received.ts';
import { MailRecordEncoder, type EnvelopeWithoutRaw } from './record-encoder.ts';
import { clientSession, type ClientSession, type ListenerKind } from './session.ts';
import { installConnectionHooks, limitPendingHandshakes, setRejectReason } from './smtp-hooks.ts';
import { isAscii, isValidHelo } from './syntax.ts';
import { loadTls, type TlsMaterial } from './tls.ts';
import { UserStore } from './users.ts';
import { loadSubmissionMacKey, submissionMac } from '../runtime/submission-mac.ts';

export type { ListenerKind };

export interface IngressTopics {
  inbound: string;
  outbound: string;
  blocklist: string;
  refusals: string;
  greylist: string;
}

export const DEFAULT_TOPICS: IngressTopics = {
  inbound: TOPICS.inboundRaw.name, outbound: TOPICS.outboundRaw.name, blocklist: TOPICS.blocklist.name, refusals: TOPICS.smtpRefusals.name, greylist: TOPICS.greylist.name,
};

export interface IngressDeps {
  kafka: KafkaClient;
  kafkaSettings: KafkaSettings;
  codec: RecordCodec;
  log: Logger;
  metrics: Registry;
  /**
   * Already-bound listening sockets to serve instead of binding host:port (tests pass sockets
   * created in a network namespace of their own, to connect from many addresses).
   */
  listenOn?: Partial<Record<ListenerKind, Server>>;
}

export interface RunningIngress {
  endpoints: Record<string, string>;
  ports: Partial<Record<ListenerKind, number>>;
  tls: TlsMaterial;
  handoff: ThreadedHandoff;
  blocklist: BlockList;
  metrics: IngressMetrics;
  budget: MemoryBudget;
  hashLimiter: HashLimiter;
  greylist: Greylist | undefined;
  /** For the `ready` line: which domains the MX accepts. */
  notes: Record<string, string>;
  stop(): Promise<void>;
}

/** An SMTP error reply: smtp-server sends err.responseCode and err.message (which starts with the enhanced code). */
function smtpError(code: number, enhanced: string, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(`${enhanced} ${text}`), { responseCode: code });
}

const ENDPOINT_NAMES: Record<ListenerKind, string> = { MX: 'smtp-mx', SUBMISSION: 'smtp-submission', SUBMISSIONS: 'smtps-submission' };

/** 452 4.3.1: the message does not fit in the memory budget now; the client retries later. */
const storageFull = () => smtpError(452, '4.3.1', 'Insufficient system storage, try again later');

export async function startIngress(deps: IngressDeps, config: IngressConfig, topics: IngressTopics = DEFAULT_TOPICS): Promise<RunningIngress> {
  const { log, codec } = deps;
  for (const w of config.warnings) log.warn(w);
  const budget = new MemoryBudget(config.budget);
  const hashLimiter = new HashLimiter(config.auth.hashConcurrency, config.auth.hashQueue);
  let greylist: Greylist | undefined;
  const metrics = createIngressMetrics(deps.metrics, { inflightBytes: () => budget.used, hashQueue: () => hashLimiter.queued, greylistEntries: () => greylist?.size ?? 0 });
  const tls = await loadTls({ tls: config.tls, hostname: config.hostname, dataDir: config.dataDir, log });
  const users = new UserStore(config.usersFile);
  // Created under the data folder on the first start; the DKIM signer reads the same file.
  const macKey = loadSubmissionMacKey({ file: config.submissionMacKeyFile, dataDir: config.dataDir, create: true });
  const limits = new Limits(config.limits);
  const authGuard = new AuthGuard(config.auth);
  const encoder = new MailRecordEncoder();
  const { policy } = config;
  const recipients = new RecipientPolicy(policy);
  const dns = new DnsCache({ servers: policy.dns.servers, timeoutMs: policy.dns.timeoutMs, size: policy.dns.cacheSize, queries: metrics.dnsQueries });
  const dnsbl = new Dnsbl(policy.dnsbl.sites, policy.dnsbl.threshold, dns);
  let stopping = false;
  if (policy.demoDomains) log.warn({ localDomains: policy.localDomains }, 'INGRESS_LOCAL_DOMAINS is unset: the MX accepts mail for the demo domains only; set it to your domains');

  const schemaIds = {
    [topics.inbound]: await codec.registerSchema(topics.inbound, 'MailRecord'),
    [topics.outbound]: await codec.registerSchema(topics.outbound, 'MailRecord'),
  };
  const refusalSchemaId = await codec.registerSchema(topics.refusals, 'SmtpRefusal');
  // Accepted mail goes to Kafka from a worker thread (handoff-thread.ts): the Kafka client's CPU and
  // garbage stay off the thread that speaks SMTP.
  const handoff = new ThreadedHandoff({ kafkaSettings: handoffKafkaSettings(config, deps.kafkaSettings), deadlineMs: config.kafkaDeadlineMs, log, lanes: config.kafkaProducers });
  // Refusal records and greylist state go through a producer of their own: a failure there must
  // never retire the producer that answers for accepted mail.
  const side = new KafkaHandoff({ kafkaSettings: deps.kafkaSettings, deadlineMs: config.kafkaDeadlineMs, log, name: 'side' });
  const blocklist = new BlockList({ kafkaSettings: deps.kafkaSettings, codec, topic: topics.blocklist, log, syncTimeoutMs: config.blocklistSyncTimeoutMs });
  blocklist.onChange = (n) => metrics.blocklistEntries.set(n);
  const stopBackground = async () => {
    await handoff.stop();
    await side.stop();
    await blocklist.stop();
    await greylist?.stop();
  };
  try {
    await handoff.start();
    await side.start();
    await blocklist.start();
    if (policy.greylist.enabled) {
      greylist = new Greylist({
        ...policy.greylist, kafkaSettings: deps.kafkaSettings, codec, topic: topics.greylist, schemaId: await codec.registerSchema(topics.greylist, 'GreylistEntry'),
        side, log, syncTimeoutMs: config.blocklistSyncTimeoutMs,
      });
      await greylist.start();
    }
  } catch (e) {
    await stopBackground();
    throw e;
  }
  const refusals = new RefusalLog({
    side, codec, schemaId: refusalSchemaId, topic: topics.refusals, ingressHost: config.hostname, perPrefixPerMinute: policy.refusalRecordsPerPrefixPerMinute,
    counted: metrics.policyRefusals, unrecorded: metrics.refusalsUnrecorded, log,
  });
  if (users.size === 0) log.warn({ usersFile: config.usersFile }, 'no submission users yet: add one with `scop users add <name>`');

  function reject(session: SMTPServerSession, reason: string, err: Error & { responseCode: number }): Error {
    setRejectReason(session, reason);
    return err;
  }

  /** A pre-queue refusal: the SMTP error, also counted and written to smtp.refusals. */
  function refuse(session: SMTPServerSession, reason: string, r: Omit<Refusal, 'helo' | 'mailFrom' | 'authUser'> & { authUser?: string | null }): Error {
    const cs = clientSession(session)!;
    const envelope = session.envelope;
    refusals.record(cs, {
      ...r,
      helo: session.hostNameAppearsAs || null,
      mailFrom: envelope?.mailFrom ? envelope.mailFrom.address : null,
      authUser: r.authUser ?? (typeof session.user === 'string' ? session.user : null),
    });
    return reject(session, reason, smtpError(r.code, r.enhanced, r.text));
  }

  function authenticate(cs: ClientSession, session: SMTPServerSession, name: string, password: string, cb: (err: Error | null | undefined, response?: { user: string }) => void): void {
    const ip = cs.ip;
    const locked = authGuard.lockedOut(cs.prefix, name);
    if (locked) {
      metrics.auth.inc({ result: 'locked' });
      log.info({ user: name, ip, prefix: cs.prefix, by: locked.by, retryAfterMs: locked.retryAfterMs }, 'authentication refused unchecked: too many failures');
      return cb(refuse(session, `auth-locked-${locked.by}`, { stage: 'AUTH', check: 'AUTH_FAILURES', code: 421, enhanced: '4.7.0', text: `Too many failed logins, try again in ${Math.ceil(locked.retryAfterMs / 1000)} s`, authUser: name }));
    }
    hashLimiter.run(() => users.verify(name, password)).then(
      (r) => {
        if (r.ok) {
          metrics.auth.inc({ result: 'ok' });
          authGuard.succeeded(cs.prefix, name);
          if (r.outdated) {
            // Off the reply path; it waits for a hash slot like any check.
            hashLimiter.run(() => users.rehash(name, password)).then(
              (done) => { if (done) { metrics.rehashed.inc(); log.info({ user: name }, 'password hash upgraded to argon2id'); } },
              (e: Error) => log.warn({ user: name, err: e.message }, 'could not upgrade the password hash; will try again at the next login'),
            );
          }
          return cb(null, { user: name });
        }
        metrics.auth.inc({ result: 'failed' });
        cs.authFailures++;
        authGuard.failed(cs.prefix, name, r.known);
        log.info({ user: name, ip, failures: cs.authFailures }, 'authentication failed');
        if (cs.authFailures >= config.auth.maxFailuresPerSession) {
          return cb(refuse(session, 'auth-failures', { stage: 'AUTH', check: 'AUTH_FAILURES', code: 421, enhanced: '4.7.0', text: 'Too many failed logins, closing connection', authUser: name }));
        }
        // A growing pause before each 535 (tarpit); the session is busy meanwhile, so no clock closes it.
        setTimeout(() => cb(reject(session, 'auth-failed', smtpError(535, '5.7.8', 'Authentication credentials invalid'))), config.auth.failureDelayMs * cs.authFailures).unref();
      },
      (e: Error) => {
        if (e instanceof HashBusyError) {
          metrics.auth.inc({ result: 'busy' });
          return cb(reject(session, 'auth-busy', smtpError(454, '4.7.0', 'Too many logins in progress, try again later')));
        }
        log.error({ err: e.message }, 'users file unreadable');
        cb(reject(session, 'auth-unavailable', smtpError(454, '4.7.0', 'Temporary authentication failure')));
      },
    );
  }

  function handlers(listener: ListenerKind): Partial<SMTPServerOptions> {
    return {
      onConnect(session, cb) {
        const cs = clientSession(session)!;
        const ip = cs.ip;
        if (stopping) return cb(reject(session, 'shutdown', smtpError(421, '4.3.2', 'Service shutting down, try again later')));
        const block = blocklist.match(ip);
        if (block) {
          log.info({ ip, prefix: block.prefix, listener }, 'refused a blocked client');
          return cb(refuse(session, 'blocklist', { stage: 'CONNECT', check: 'BLOCKLIST', code: 554, enhanced: '5.7.1', text: `Client address ${ip} is blocked: ${block.reason}` }));
        }
        const over = limits.openSession(cs.pool, cs.prefix);
        if (over === 'sessions') return cb(reject(session, 'max-sessions', smtpError(421, '4.3.2', 'Too many sessions, try again later')));
        if (over === 'sessions-per-prefix') {
          return cb(refuse(session, 'sessions-per-prefix', { stage: 'CONNECT', check: 'RATE_LIMIT', code: 421, enhanced: '4.7.0', text: `Too many connections from ${cs.prefix}, try again later` }));
        }
        cs.counted = true;
        metrics.sessions.inc({ listener });
        metrics.activeSessions.inc({ listener });
        // The reverse name's forward confirmation runs from now on, like the DNSBL lookups; the end
        // of DATA takes its result (settled by then, or within its deadline). Submission clients are
        // not checked: their mail is judged by who logged in, not by their name.
        const ptrName = reverseName(session);
        if (listener === 'MX' && config.reverseDns && ptrName) {
          // Every PTR name of the client, up to fcrdns.ts MAX_PTR_NAMES, concurrently within the deadline.
          cs.fcrdns = confirmClient({ dns, ip, ptrName, deadlineMs: 2 * policy.dns.timeoutMs }).then((r) => {
            metrics.fcrdns.inc({ result: r.result });
            if (!r.confirmed) log.debug({ ip, hostname: r.hostname, result: r.result, detail: r.detail }, 'client reverse name not forward-confirmed');
            return r;
          });
        }
        // DNSBL lookups start now, in parallel with the greeting; RCPT waits for them (or, with
        // INGRESS_DNSBL_ACTION=connect, the greeting does). Submission clients are not checked.
        if (listener !== 'MX' || !dnsbl.enabled) return cb();
        cs.dnsbl = dnsbl.check(ip).then((r) => {
          for (const f of r.failures) metrics.dnsblFailures.inc({ zone: f.zone });
          if (r.failures.length) log.warn({ ip, failures: r.failures }, 'DNSBL lookups failed (counted as not listed)');
          return r;
        });
        if (policy.dnsbl.action !== 'connect') return cb();
        cs.dnsbl.then((r) => cb(r.listed ? dnsblRefusal(session, r, 554) : undefined), () => cb());
      },

      onClose(session) {
        const cs = clientSession(session);
        if (cs?.counted) {
          cs.counted = false;
          limits.closeSession(cs.pool, cs.prefix);
          metrics.activeSessions.dec({ listener });
        }
      },

      onSecure(socket, session, cb) {
        const s = socket as TLSSocket;
        const protocol = s.getProtocol?.() ?? 'unknown';
        const cs = clientSession(session);
        if (cs) cs.tls = { protocol, cipher: s.getCipher?.()?.name ?? 'unknown', implicit: listener === 'SUBMISSIONS' };
        metrics.tlsSessions.inc({ listener, protocol });
        cb();
      },

      onAuth(auth, session, cb) {
        if (listener === 'MX') return cb(reject(session, 'auth-on-mx', smtpError(503, '5.5.1', 'AUTH is not offered on the MX listener')));
        authenticate(clientSession(session)!, session, auth.username ?? '', auth.password ?? '', cb);
      },

      // MAIL and RCPT answer on a later tick, never synchronously: smtp-server 3.21.6's
      // SMTPStream.continue() clears its continuation after calling it, so when a pipelined
      // MAIL/RCPT/DATA behind one message runs synchronously into the next end of data, the
      // continuation for that next message is wiped and the session stalls (lost QUIT).
      onMailFrom(address, session, callback) {
        const cb = (err?: Error) => setImmediate(callback, err);
        const cs = clientSession(session)!;
        if (!isValidHelo(session.hostNameAppearsAs)) {
          return cb(reject(session, 'helo-syntax', smtpError(501, '5.5.2', 'The HELO/EHLO argument is not a domain name or address literal; send EHLO with a valid name')));
        }
        if (!session.envelope.smtpUtf8 && !isAscii(address.address)) {
          return cb(reject(session, 'needs-smtputf8', smtpError(553, '5.6.7', 'Non-ASCII address without the SMTPUTF8 parameter')));
        }
        const args = address.args as Record<string, unknown> | false | undefined;
        const declared = Number((args && args.SIZE) ?? 0);
        if (declared > 0 && !budget.fits(cs.pool, cs.prefix, declared)) {
          log.info({ ip: cs.ip, declared, inflightBytes: budget.used }, 'MAIL refused: the declared SIZE does not fit in the memory budget now');
          return cb(reject(session, 'memory-budget', storageFull()));
        }
        if (!limits.takeMessage(cs.pool, cs.prefix)) {
          return cb(refuse(session, 'messages-per-prefix', { stage: 'MAIL', check: 'RATE_LIMIT', code: 450, enhanced: '4.7.1', text: `Too many messages from ${cs.prefix} this minute, try again later` }));
        }
        // SPF runs while the client sends its recipients; RCPT waits for the result.
        cs.spf = listener === 'MX' && policy.spfReject
          ? checkSpfAtSmtp({ ip: cs.ip, helo: session.hostNameAppearsAs, mailFrom: address.address, mta: config.hostname, dns, timeoutMs: 3 * policy.dns.timeoutMs })
          : undefined;
        cb();
      },

      onRcptTo(address, session, callback) {
        rcptPolicy(listener, address.address, session).then(
          (err) => setImmediate(callback, err),
          (e: Error) => {
            log.error({ err: e.message }, 'RCPT check failed');
            setImmediate(callback, reject(session, 'local-error', smtpError(451, '4.3.0', 'Local error, try again later')));
          },
        );
      },

      onData(stream, session, cb) {
        receiveMessage(listener, stream, session).then(
          (reply) => cb(null, reply),
          (e: Error) => cb(e),
        );
      },
    };
  }

  function dnsblRefusal(session: SMTPServerSession, r: DnsblResult, code: 550 | 554): Error {
    const cs = clientSession(session)!;
    const zones = r.hits.map((h) => h.zone).join(', ');
    log.info({ ip: cs.ip, score: r.score, hits: r.hits }, 'client refused: listed in DNSBL');
    return refuse(session, 'dnsbl', { stage: code === 554 ? 'CONNECT' : 'RCPT', check: 'DNSBL', code, enhanced: '5.7.1', text: `Service unavailable; client [${cs.ip}] blocked using ${zones}`, dnsbl: r.hits });
  }

  /** The SMTP-time policy for one recipient, cheapest check first; undefined when it passes. */
  async function rcptPolicy(listener: ListenerKind, rcpt: string, session: SMTPServerSession): Promise<Error | undefined> {
    const cs = clientSession(session)!;
    if (!session.envelope.smtpUtf8 && !isAscii(rcpt)) {
      return reject(session, 'needs-smtputf8', smtpError(553, '5.6.7', 'Non-ASCII address without the SMTPUTF8 parameter'));
    }
    const authenticated = typeof session.user === 'string';
    const v = recipients.check(rcpt, authenticated);
    if (!v.ok) return refuse(session, v.check === 'RELAY_DENIED' ? 'relay-denied' : 'unknown-recipient', { stage: 'RCPT', check: v.check, code: v.code, enhanced: v.enhanced, text: v.text, rcptTo: rcpt });
    if (listener !== 'MX' || authenticated) return undefined;
    if (cs.dnsbl) {
      const r = await cs.dnsbl;
      if (r.listed) return dnsblRefusal(session, r, 550);
    }
    if (cs.spf && !/^postmaster(@|$)/i.test(rcpt)) {
      const s = await cs.spf;
      if (s.fail) {
        return refuse(session, 'spf-fail', { stage: 'RCPT', check: 'SPF_FAIL', code: 550, enhanced: '5.7.23', text: `SPF fail: ${s.domain} does not allow ${cs.ip} to send its mail${s.reason ? ` (${s.reason.slice(0, 200)})` : ''}`, rcptTo: rcpt });
      }
    }
    if (greylist) {
      const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const g = greylist.check(cs.prefix, sender, rcpt);
      if (!g.pass) {
        const s = Math.ceil(g.retryInMs / 1000);
        return refuse(session, 'greylist', { stage: 'RCPT', check: 'GREYLIST', code: 450, enhanced: '4.7.1', text: `<${rcpt}>: Greylisted, try again in ${s} second${s === 1 ? '' : 's'}`, rcptTo: rcpt });
      }
    }
    return undefined;
  }

  async function receiveMessage(listener: ListenerKind, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string | undefined> {
    const cs = clientSession(session)!;
    // Every byte held for this message is in the budget, from the first chunk until Kafka answers.
    const reservation = budget.reservation(cs.pool, cs.prefix);
    try {
      const chunks: Buffer[] = [];
      const scanner = new LineEndingScanner(config.maxHeaderBytes);
      const hash = createHash('sha256');
      let size = 0;
      let overBudget = false;
      const discard = () => {
        chunks.length = 0;
        reservation.release();
      };
      await new Promise<void>((ok, fail) => {
        stream.on('data', (chunk: Buffer) => {
          cs.onData();
          size += chunk.length;
          // SIZE, the memory budget and the header section's size are enforced while streaming:
          // past any of them, nothing more is kept (the rest is read and dropped).
          if (overBudget || scanner.headerTooLarge || size > config.maxMessageBytes || !reservation.take(chunk.length)) {
            overBudget ||= size <= config.maxMessageBytes && !scanner.headerTooLarge;
            return discard();
          }
          chunks.push(chunk);
          scanner.push(chunk);
          hash.update(chunk);
          if (scanner.headerTooLarge) discard();
        });
        stream.once('end', ok);
        stream.once('error', fail);
      });
      if (stream.sizeExceeded || size > config.maxMessageBytes) {
        // smtp-server answers 552 5.3.4 itself (rejectOversized); only the reason is ours to record.
        setRejectReason(session, 'size');
        log.info({ size, limit: config.maxMessageBytes, ip: cs.ip }, 'message over the size limit refused');
        return undefined;
      }
      if (overBudget) {
        log.warn({ ip: cs.ip, listener, size, inflightBytes: budget.used, limit: config.budget.totalBytes }, 'message refused: the in-flight memory budget is full (452 4.3.1)');
        throw reject(session, 'memory-budget', storageFull());
      }
      const problem = scanner.finish();
      if (scanner.headerTooLarge) {
        log.info({ ip: cs.ip, listener, size, headerBytesAtLeast: scanner.headerBytes ?? size, limit: config.maxHeaderBytes }, 'message refused: header section over INGRESS_MAX_HEADER_BYTES (552 5.3.4)');
        throw reject(session, 'header-size', smtpError(552, '5.3.4', `Message header section too large (limit ${config.maxHeaderBytes} bytes)`));
      }
      if (problem) {
        log.info({ problem, ip: cs.ip, listener }, 'message refused: bare line ending or NUL (SMTP smuggling defence)');
        throw reject(session, problem, smtpError(554, '5.6.0', `Message refused: ${describeProblem(problem)}`));
      }

      const recordId = uuidv7();
      const now = new Date();
      const smtpUtf8 = Boolean(session.envelope.smtpUtf8);
      const asGiven = (a: string) => (smtpUtf8 ? a : aLabels(a));
      const rcptTo = session.envelope.rcptTo.map((r) => asGiven(r.address));
      const mailFrom = session.envelope.mailFrom ? asGiven(session.envelope.mailFrom.address) : '';
      const user = typeof session.user === 'string' ? session.user : null;
      // The name the check settled on (the one that resolved back, or the one that may still be
      // right), else smtp-server's: the first PTR name.
      const fcrdns = cs.fcrdns ? await cs.fcrdns : null;
      const rdns = fcrdns?.hostname || reverseName(session);
      const confirmed = fcrdns?.confirmed ?? null;
      const trace = receivedHeader({
        helo: session.hostNameAppearsAs,
        // Postfix's convention: a name that does not resolve back to the client is shown as
        // "unknown" (the envelope keeps the PTR name and the verdict). A name not checked, or whose
        // check failed temporarily, is shown as before: a DNS hiccup must not look like evidence.
        clientHostname: confirmed === false ? null : rdns,
        clientIp: cs.ip,
        byHost: config.hostname,
        recordId,
        tls: cs.tls,
        authenticated: user !== null,
        smtpUtf8,
        rcptTo,
        date: now,
      });
      const envelope: EnvelopeWithoutRaw = {
        id: recordId,
        receivedAt: now.getTime(),
        listener,
        clientIp: cs.ip,
        clientPort: session.remotePort,
        clientHostname: rdns,
        helo: session.hostNameAppearsAs,
        tls: cs.tls,
        authUser: user,
        mailFrom,
        rcptTo,
        smtpUtf8,
        bodyType: bodyTypeOf(session.envelope.bodyType),
        size,
        ingressHost: config.hostname,
        traceLength: trace.length,
        messageSha256: hash.digest('hex'),
        submissionMac: null,
        clientHostnameConfirmed: confirmed,
      };
      // Proof for the DKIM signer that this submission is ours and whose (runtime/submission-mac.ts);
      // raw's trace part is `trace` itself.
      if (user !== null) envelope.submissionMac = submissionMac(macKey, { ...envelope, raw: trace }, envelope.messageSha256!);
      const topic = listener === 'MX' ? topics.inbound : topics.outbound;
      let value: Buffer | undefined;
      try {
        // The record is the one copy of the message from here on; the chunks go once it is written.
        // Both exist only during this synchronous call (so for one message at a time): the budget
        // counts the body once and adds what the record has more (trace header, envelope fields).
        value = encoder.encode(schemaIds[topic]!, envelope, [trace, ...chunks], trace.length + size, (bytes) => reservation.take(bytes - size));
      } catch (e) {
        log.error({ recordId, err: (e as Error).message.slice(0, 500) }, 'cannot encode the record');
        throw reject(session, 'encode', smtpError(451, '4.3.0', 'Local error while storing the message, try again later'));
      }
      chunks.length = 0;
      if (!value) {
        log.warn({ recordId, ip: cs.ip, listener, size, inflightBytes: budget.used }, 'message refused: no room in the in-flight memory budget to encode it (452 4.3.1)');
        throw reject(session, 'memory-budget', storageFull());
      }
      const started = process.hrtime.bigint();
      try {
        await handoff.publish(topic, recordId, value);
      } catch (e) {
        const reason = e instanceof HandoffError ? e.reason : 'kafka';
        metrics.handoff.observe({ outcome: reason }, Number(process.hrtime.bigint() - started) / 1e9);
        log.warn({ recordId, topic, err: (e as Error).message, listener }, 'Kafka hand-off failed: answered 451');
        throw reject(session, `kafka-${reason}`, smtpError(451, '4.3.0', `Message not stored (${reason === 'deadline' ? 'storage too slow' : 'storage unavailable'}), try again later`));
      }
      metrics.handoff.observe({ outcome: 'acked' }, Number(process.hrtime.bigint() - started) / 1e9);
      metrics.accepted.inc({ listener });
      metrics.bytes.inc({ listener }, size);
      log.info({ recordId, topic, size, rcpts: rcptTo.length, listener, ip: cs.ip }, 'message accepted');
      return `Ok: queued as ${recordId}`;
    } finally {
      reservation.release();
    }
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
    // The PTR lookup goes through the ingress's resolver (INGRESS_DNS_SERVERS, its cache), not the system's.
    resolver: reverseResolver(dns),
    // The outer bound (any byte resets it); session.ts enforces the stricter no-progress idle limit.
    socketTimeout: config.socketTimeoutMs,
    closeTimeout: config.shutdownTimeoutMs,
    logger: false,
  };

  // No smtp-server maxClients on the plaintext listeners: it counts every connection, refused ones
  // included, so a fast flood would keep its count over the cap and lock everyone out; the pools
  // in limits.ts decide who gets a session. The implicit-TLS listener keeps it, generously, as the
  // bound on sockets still in their handshake (also bounded per prefix: limitPendingHandshakes).
  const listeners: { kind: ListenerKind; host: string; port: number; options: SMTPServerOptions }[] = [
    { kind: 'MX', ...config.mx, options: { ...common, disabledCommands: ['AUTH'], authOptional: true } },
    { kind: 'SUBMISSION', ...config.submission, options: { ...common, authMethods: ['PLAIN', 'LOGIN'], authOptional: false, allowInsecureAuth: false } },
  ];
  if (config.submissions) {
    const maxClients = 4 * config.limits.maxSessions.SUBMISSION;
    listeners.push({ kind: 'SUBMISSIONS', ...config.submissions, options: { ...common, maxClients, secure: true, authMethods: ['PLAIN', 'LOGIN'], authOptional: false } });
  }

  const servers: { kind: ListenerKind; server: SMTPServer }[] = [];
  const endpoints: Record<string, string> = {};
  const ports: RunningIngress['ports'] = {};
  try {
    for (const l of listeners) {
      const server = new SMTPServer({ ...l.options, ...handlers(l.kind) });
      installConnectionHooks(server, { listener: l.kind, metrics, log, clock: config.clock, prefixLengths: config.limits });
      if (l.options.secure) limitPendingHandshakes(server, config.limits.maxSessionsPerPrefix, config.limits);
      server.on('error', (e: Error) => log.debug({ err: e.message, listener: l.kind }, 'smtp connection error'));
      const handle = deps.listenOn?.[l.kind];
      await new Promise<void>((ok, fail) => {
        const onError = (e: NodeJS.ErrnoException) => fail(new Error(`${l.kind} listener ${l.host}:${l.port}: ${e.code ?? e.message} — choose another port (INGRESS_${l.kind}_PORT)`));
        server.server.once('error', onError);
        const listening = () => {
          server.server.off('error', onError);
          ok();
        };
        if (handle) server.server.listen(handle, listening);
        else server.listen(l.port, l.host, listening);
      });
      const addr = server.server.address();
      const host = typeof addr === 'object' && addr ? addr.address : l.host;
      const port = typeof addr === 'object' && addr ? addr.port : l.port;
      servers.push({ kind: l.kind, server });
      endpoints[ENDPOINT_NAMES[l.kind]] = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      ports[l.kind] = port;
    }
  } catch (e) {
    for (const s of servers) s.server.server.close();
    await stopBackground();
    throw e;
  }
  log.info({
    endpoints, tls: tls.selfSigned ? 'self-signed' : 'configured', topics, maxMessageBytes: config.maxMessageBytes, maxHeaderBytes: config.maxHeaderBytes, maxInflightBytes: config.budget.totalBytes, maxSessions: config.limits.maxSessions,
    localDomains: policy.localDomains, recipientsFile: policy.recipientsFile ?? null, dnsbl: policy.dnsbl.sites.map((s) => `${s.zone}*${s.weight}`), spfReject: policy.spfReject, greylist: policy.greylist.enabled,
  }, 'ingress listening');

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
    await stopBackground();
    log.info({ ms: Date.now() - started, sessionsMs, handoffMs }, 'ingress stopped');
  }

  const notes = { 'local-domains': `${policy.localDomains.join(',')}${policy.demoDomains ? '(demo)' : ''}` };
  return { endpoints, ports, tls, handoff, blocklist, metrics, budget, hashLimiter, greylist, notes, stop };
}

/** The client's PTR name as smtp-server looked it up; null when it has none (smtp-server shows it as "[ip]") or none was asked. */
function reverseName(session: SMTPServerSession): string | null {
  return session.clientHostname && !session.clientHostname.startsWith('[') ? session.clientHostname : null;
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
