/** Test helpers for the relay: its topics with unique names, and a scriptable SMTP next hop (smtp-server). */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { generate } from 'selfsigned';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Admin } from '../../runtime/kafka.ts';
import { uniqueName } from '../../runtime/testing.ts';
import { topicConfig, type TopicSpec } from '../../runtime/topics.ts';
import { freePort } from '../../infra/ports.ts';
import type { RelayTopics } from './relay.ts';

export async function createRelayTopics(admin: Admin, prefix = 'egress'): Promise<RelayTopics> {
  const t: RelayTopics = {
    decided: uniqueName(`${prefix}-decided`), requests: uniqueName(`${prefix}-requests`),
    retries: [uniqueName(`${prefix}-retry1`), uniqueName(`${prefix}-retry2`), uniqueName(`${prefix}-retry3`)],
    dead: uniqueName(`${prefix}-dead`), log: uniqueName(`${prefix}-log`), alerts: uniqueName(`${prefix}-alerts`),
    outbound: uniqueName(`${prefix}-outbound`), deadLetters: uniqueName(`${prefix}-dlq`),
  };
  const cfg = (cleanup: 'delete' | 'compact') => Object.entries(topicConfig({ cleanup } as TopicSpec)).map(([name, value]) => ({ name, value }));
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      ...[t.decided, t.requests, ...t.retries, t.dead, t.alerts, t.outbound!, t.deadLetters!].map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1, configEntries: cfg('delete') })),
      { topic: t.log, numPartitions: 3, replicationFactor: 1, configEntries: cfg('compact') },
    ],
  });
  return t;
}

export interface Received { from: string; to: string[]; data: Buffer; secure: boolean }

/**
 * An SMTP server whose answers a test scripts: `rcpt(address)` / `data()` return null to accept or
 * [code, text] to refuse. Everything accepted is kept in `received`.
 */
export class ScriptedSmtp {
  readonly received: Received[] = [];
  rcpt: (address: string) => [number, string] | null = () => null;
  data: () => [number, string] | null = () => null;
  port = 0;
  private server: SMTPServer | undefined;

  /** Sessions that connected (counts attempts, including refused ones). */
  connections = 0;

  /** opts.tls: offer STARTTLS with this key and certificate; opts.host: the loopback address to bind (default 127.0.0.1). */
  async start(port?: number, opts: { host?: string; tls?: { key: string; cert: string } } = {}): Promise<void> {
    this.port = port ?? this.port ?? 0;
    if (!this.port) this.port = await freePort(opts.host);
    this.server = new SMTPServer({
      authOptional: true, disabledCommands: opts.tls ? ['AUTH'] : ['STARTTLS'], logger: false, size: 50 * 1024 * 1024,
      ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
      onConnect: (_s, cb) => { this.connections++; cb(); },
      onRcptTo: (addr, _s, cb) => {
        const r = this.rcpt(addr.address);
        if (!r) return cb();
        const err = new Error(r[1]) as Error & { responseCode: number };
        err.responseCode = r[0];
        cb(err);
      },
      onData: (stream: SMTPServerDataStream, session: SMTPServerSession, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const r = this.data();
          if (r) {
            const err = new Error(r[1]) as Error & { responseCode: number };
            err.responseCode = r[0];
            return cb(err);
          }
          this.received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((a) => a.address), data: Buffer.concat(chunks), secure: session.secure });
          cb();
        });
      },
    });
    await new Promise<void>((ok, fail) => { this.server!.once('error', fail); this.server!.listen(this.port, opts.host ?? '127.0.0.1', () => ok()); });
    // A client that dies with a session open (a SIGKILLed relay holding pooled sessions) resets
    // its socket: smtp-server reports that as a server 'error', which is no failure of the test.
    this.server.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') throw e; });
  }

  async stop(): Promise<void> {
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
    this.server = undefined;
  }
}

/** A test certificate authority (EC P-256, fast) and leaf certificates it signs. */
export class TestCa {
  private constructor(readonly key: string, readonly cert: string) {}

  static async create(name = 'scop test CA'): Promise<TestCa> {
    const ca = await generate([{ name: 'commonName', value: name }], {
      keyType: 'ec', algorithm: 'sha256', days: 2,
      extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }],
    } as never);
    return new TestCa(ca.private, ca.cert);
  }

  /** A server certificate for these DNS names, signed by this CA. */
  async issue(names: string[]): Promise<{ key: string; cert: string }> {
    const leaf = await generate([{ name: 'commonName', value: names[0]! }], {
      keyType: 'ec', algorithm: 'sha256', days: 2, ca: { key: this.key, cert: this.cert },
      extensions: [
        { name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true }, { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) },
      ],
    } as never);
    return { key: leaf.private, cert: leaf.cert };
  }
}

/** An HTTPS server for MTA-STS policies: path /.well-known/mta-sts.txt, body and Content-Type per host name (Host header). */
export class PolicyServer {
  readonly policies = new Map<string, { body: string; type?: string; status?: number }>();
  readonly requests: string[] = [];
  port = 0;
  private server?: HttpsServer;

  async start(tls: { key: string; cert: string }, host = '127.0.0.1'): Promise<void> {
    this.port = await freePort(host);
    this.server = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const name = String(req.headers.host ?? '').replace(/:\d+$/, '');
      this.requests.push(`${name}${req.url}`);
      const p = this.policies.get(name);
      if (!p || req.url !== '/.well-known/mta-sts.txt') { res.writeHead(404).end(); return; }
      res.writeHead(p.status ?? 200, { 'content-type': p.type ?? 'text/plain' }).end(p.body);
    });
    await new Promise<void>((ok, fail) => { this.server!.once('error', fail); this.server!.listen(this.port, host, () => ok()); });
  }

  async stop(): Promise<void> {
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }
}

/**
 * A minimal SMTP server that keeps the DATA bytes exactly as they came off the socket (still
 * dot-stuffed, up to and including the CRLF.CRLF that ended them), to check what a client emits.
 * Each transaction's bytes are one entry in `transactions`.
 */
export class WireCapture {
  readonly transactions: Buffer[] = [];
  /** Every command line received (MAIL FROM, RCPT TO, …), to see that nothing else was sent. */
  readonly commands: string[] = [];
  /** Sessions that connected. */
  connections = 0;
  /**
   * Breaks a session (the socket is destroyed, no reply): at MAIL FROM of the `n`-th transaction of
   * the session (1-based) when `dropAtMail(n)`, or after the DATA bytes arrived, before the reply,
   * when `dropAfterData(n)`.
   */
  dropAtMail: (n: number) => boolean = () => false;
  dropAfterData: (n: number) => boolean = () => false;
  /** The reply to a RCPT TO line, e.g. '550 5.1.1 no such user' (null: 250). */
  rcptReply: (line: string) => string | null = () => null;
  /** Milliseconds between the end of a message's data and its 250 (a distant or slow next hop). */
  replyDelayMs = 0;
  /** Messages whose data ended ("." received, stored) and whose 250 is not written yet: now, and the most at once. */
  unanswered = 0;
  maxUnanswered = 0;
  port = 0;
  private server?: TcpServer;
  private readonly sockets = new Set<Socket>();

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createTcpServer((sock) => {
      this.sockets.add(sock);
      this.connections++;
      sock.on('close', () => this.sockets.delete(sock));
      let buf = Buffer.alloc(0);
      let inData = false;
      let n = 0;
      sock.write('220 wire-capture ESMTP\r\n');
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
          if (inData) {
            const end = buf.indexOf('\r\n.\r\n');
            if (end < 0) return;
            if (this.dropAfterData(n)) { sock.destroy(); return; }
            this.transactions.push(buf.subarray(0, end + 5));
            buf = buf.subarray(end + 5);
            inData = false;
            this.maxUnanswered = Math.max(this.maxUnanswered, ++this.unanswered);
            const answer = () => { this.unanswered--; if (!sock.destroyed) sock.write('250 2.0.0 captured\r\n'); };
            if (this.replyDelayMs > 0) setTimeout(answer, this.replyDelayMs);
            else answer();
            continue;
          }
          const nl = buf.indexOf('\r\n');
          if (nl < 0) return;
          const line = buf.subarray(0, nl).toString('latin1');
          buf = buf.subarray(nl + 2);
          this.commands.push(line);
          const verb = line.slice(0, 4).toUpperCase();
          if (verb === 'EHLO') sock.write('250-wire-capture\r\n250 8BITMIME\r\n');
          else if (verb === 'MAIL' && this.dropAtMail(++n)) { sock.destroy(); return; }
          else if (verb === 'RCPT' && this.rcptReply(line)) sock.write(`${this.rcptReply(line)}\r\n`);
          else if (verb === 'DATA') { inData = true; sock.write('354 go ahead\r\n'); }
          else if (verb === 'QUIT') { sock.end('221 bye\r\n'); return; }
          else sock.write('250 2.0.0 ok\r\n');
        }
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((ok) => this.server!.listen(this.port, '127.0.0.1', () => ok()));
  }

  /** Closes every open session from the server side (as a server's idle timeout does). */
  async dropSessions(): Promise<void> {
    const closed = [...this.sockets].map((s) => new Promise((ok) => s.once('close', ok)));
    for (const s of this.sockets) s.end('421 4.4.2 idle too long\r\n');
    await Promise.all(closed);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }
}
