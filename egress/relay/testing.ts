/** Test helpers for the relay: its topics with unique names, and a scriptable SMTP next hop (smtp-server). */
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
  };
  const cfg = (cleanup: 'delete' | 'compact') => Object.entries(topicConfig({ cleanup } as TopicSpec)).map(([name, value]) => ({ name, value }));
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      ...[t.decided, t.requests, ...t.retries, t.dead, t.alerts].map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1, configEntries: cfg('delete') })),
      { topic: t.log, numPartitions: 3, replicationFactor: 1, configEntries: cfg('compact') },
    ],
  });
  return t;
}

export interface Received { from: string; to: string[]; data: Buffer }

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

  async start(port?: number): Promise<void> {
    this.port = port ?? this.port ?? 0;
    if (!this.port) this.port = await freePort();
    this.server = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false, size: 50 * 1024 * 1024,
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
          this.received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((a) => a.address), data: Buffer.concat(chunks) });
          cb();
        });
      },
    });
    await new Promise<void>((ok, fail) => { this.server!.once('error', fail); this.server!.listen(this.port, '127.0.0.1', () => ok()); });
  }

  async stop(): Promise<void> {
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
    this.server = undefined;
  }
}
