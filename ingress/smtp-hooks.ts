/**
 * Per-connection hooks on smtp-server's SMTPConnection (pinned smtp-server 3.21.6; `send` and
 * `_onCommand` are part of its published typings). smtp-server has no callback for either, and the
 * ingress needs both:
 * - every negative reply is counted (listener, stage, code, reason) — including the ones
 *   smtp-server sends itself (syntax, 452 too many recipients, 538, 530…);
 * - a reply whose text starts with an enhanced status code (ours do) is not given a second one;
 * - a command line that contains a NUL or a bare CR, or an empty command line right after a DATA
 *   transaction, ends the session (500 5.5.2 + close). That stops what is pipelined behind it:
 *   smuggling probes such as "…\0<CRLF>.<CRLF><CRLF>MAIL FROM:<smuggled@…>" do contain a real
 *   end of data, and their second transaction would otherwise run as ordinary pipelined commands.
 * Hooks are installed on each connection of the given server only, never on the prototype.
 */
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import type { Logger } from '../runtime/log.ts';
import type { IngressMetrics } from './metrics.ts';

const reasons = new WeakMap<SMTPServerSession, string>();

/** Tags the next negative reply of this session with a reason (for the rejections metric). */
export function setRejectReason(session: SMTPServerSession | undefined, reason: string): void {
  if (session) reasons.set(session, reason);
}

const KNOWN_COMMANDS = new Set(['HELO', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'RSET', 'NOOP', 'QUIT', 'VRFY', 'EXPN', 'HELP', 'STARTTLS', 'AUTH']);

function defaultReason(code: number, stage: string): string {
  switch (code) {
    case 421: return 'closing';
    case 452: return 'too-many-recipients';
    case 500: return 'unknown-command';
    case 501: return 'syntax';
    case 502: case 504: return 'not-implemented';
    case 503: return 'bad-sequence';
    case 530: return 'auth-required';
    case 535: return 'auth-failed';
    case 538: return 'auth-needs-tls';
    case 552: return stage === 'MAIL' ? 'declared-size' : 'size';
    default: return 'other';
  }
}

type Conn = SMTPServer['connections'] extends Set<infer C> ? C : never;

export function installConnectionHooks(server: SMTPServer, opts: { listener: string; metrics: IngressMetrics; log: Logger }): void {
  const connections = server.connections;
  const add = connections.add.bind(connections);
  connections.add = (conn: Conn) => {
    hook(conn, opts);
    return add(conn);
  };
}

function hook(conn: Conn, { listener, metrics, log }: { listener: string; metrics: IngressMetrics; log: Logger }): void {
  let stage = 'CONNECT';
  const send = conn.send.bind(conn);
  conn.send = (code: number, data?: string | string[] | null, context?: string | false) => {
    if (typeof data === 'string' && /^[245]\.\d{1,3}\.\d{1,3} /.test(data)) context = false;
    if (code >= 400) {
      const session = conn.session;
      const reason = (session && reasons.get(session)) ?? defaultReason(code, stage);
      if (session) reasons.delete(session);
      metrics.rejected.inc({ listener, stage, code: String(code), reason });
    }
    send(code, data, context);
  };

  const onCommand = conn._onCommand.bind(conn);
  conn._onCommand = (command: Buffer, callback?: () => void) => {
    const afterData = stage === 'DATA';
    if (command.includes(0x00) || command.includes(0x0d) || (afterData && command.length === 0)) {
      log.info({ ip: conn.session?.remoteAddress, listener, afterData }, 'NUL, bare CR or (right after DATA) an empty command line: session closed');
      setRejectReason(conn.session, 'smuggling-signature');
      conn.send(500, '5.5.2 Protocol violation (NUL, bare CR or empty line after DATA), closing connection');
      conn.close();
      return;
    }
    const name = command.subarray(0, 16).toString('latin1').split(' ')[0]!.toUpperCase();
    if (KNOWN_COMMANDS.has(name)) stage = name;
    else if (stage !== 'AUTH') stage = 'OTHER';
    onCommand(command, callback);
  };
}
