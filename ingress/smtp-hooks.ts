/**
 * Per-connection hooks on smtp-server's SMTPConnection (pinned smtp-server 3.21.6; `send`,
 * `_onCommand`, `_onClose` are part of its published typings). smtp-server has no callback for
 * these, and the ingress needs them:
 * - every connection gets its ClientSession (session.ts) with the clock that enforces the idle,
 *   session, DATA and AUTH time limits; commands and replies drive that clock;
 * - every negative reply is counted (listener, stage, code, reason) — including the ones
 *   smtp-server sends itself (syntax, 452 too many recipients, 538, 530…);
 * - a reply whose text starts with an enhanced status code (ours do) is not given a second one;
 * - a command line that contains a NUL or a bare CR, or an empty command line right after a DATA
 *   transaction, ends the session (500 5.5.2 + close). That stops what is pipelined behind it:
 *   smuggling probes such as "…\0<CRLF>.<CRLF><CRLF>MAIL FROM:<smuggled@…>" do contain a real
 *   end of data, and their second transaction would otherwise run as ordinary pipelined commands;
 * - a command line or MAIL/RCPT path over RFC 5321's size limits is refused before smtp-server
 *   parses it (500 5.5.2 / 501 5.1.7 / 501 5.1.3: command-limits.ts).
 * Hooks are installed on each connection of the given server only, never on the prototype.
 */
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import type { Logger } from '../runtime/log.ts';
import type { ClockSettings } from './config.ts';
import { commandLimitRefusal } from './command-limits.ts';
import type { IngressMetrics } from './metrics.ts';
import { clientPrefix, type PrefixLengths } from './prefix.ts';
import { attachClientSession, ClientSession, clientSession, type Conn, type ListenerKind } from './session.ts';

/** Tags the next negative reply of this session with a reason (for the rejections metric). */
export function setRejectReason(session: SMTPServerSession | undefined, reason: string): void {
  const s = session && clientSession(session);
  if (s) s.rejectReason = reason;
}

const KNOWN_COMMANDS = new Set(['HELO', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'RSET', 'NOOP', 'QUIT', 'VRFY', 'EXPN', 'HELP', 'STARTTLS', 'AUTH']);
const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

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

export type ExpiryReason = 'idle' | 'session' | 'data' | 'auth-timeout';

const EXPIRY_TEXT: Record<ExpiryReason, string> = {
  idle: '4.4.2 Idle timeout (no progress), closing connection',
  session: '4.4.2 Session time limit reached, closing connection',
  data: '4.4.2 DATA took too long, closing connection',
  'auth-timeout': '4.7.0 Authentication required in time, closing connection',
};

export interface HookOptions {
  listener: ListenerKind;
  metrics: IngressMetrics;
  log: Logger;
  clock: ClockSettings;
  prefixLengths: PrefixLengths;
}

export function installConnectionHooks(server: SMTPServer, opts: HookOptions): void {
  const connections = server.connections;
  const add = connections.add.bind(connections);
  connections.add = (conn: Conn) => {
    hook(conn, opts);
    return add(conn);
  };
}

/** Closes a session with 421 and the reason (tagged for the metric). */
function expire(s: ClientSession, reason: ExpiryReason): void {
  s.rejectReason = reason === 'auth-timeout' ? reason : `${reason}-time`;
  s.conn.send(421, EXPIRY_TEXT[reason]);
}

function hook(conn: Conn, { listener, metrics, log, clock, prefixLengths }: HookOptions): void {
  const ip = conn.remoteAddress;
  const cs = new ClientSession(conn, listener, ip, clientPrefix(ip, prefixLengths), clock, (s, reason) => {
    log.info({ ip, listener, reason }, 'session closed by its time limit');
    expire(s, reason);
  });
  attachClientSession(cs);
  let stage = 'CONNECT';

  const send = conn.send.bind(conn);
  conn.send = (code: number, data?: string | string[] | null, context?: string | false) => {
    if (typeof data === 'string' && ENHANCED.test(data)) context = false;
    if (code >= 400) {
      metrics.rejected.inc({ listener, stage, code: String(code), reason: cs.rejectReason ?? defaultReason(code, stage) });
      cs.rejectReason = undefined;
    }
    const closeAfter = cs.onReply(code);
    send(code, data, context);
    if (closeAfter && code !== 421) expire(cs, 'session');
  };

  const onCommand = conn._onCommand.bind(conn);
  conn._onCommand = (command: Buffer, callback?: () => void) => {
    const afterData = stage === 'DATA';
    if (command.includes(0x00) || command.includes(0x0d) || (afterData && command.length === 0)) {
      log.info({ ip, listener, afterData }, 'NUL, bare CR or (right after DATA) an empty command line: session closed');
      cs.rejectReason = 'smuggling-signature';
      conn.send(500, '5.5.2 Protocol violation (NUL, bare CR or empty line after DATA), closing connection');
      conn.close();
      return;
    }
    // An AUTH continuation line (a base64 answer) is no command.
    if (!conn._nextHandler) {
      const space = command.indexOf(0x20);
      const name = command.subarray(0, space < 0 ? Math.min(command.length, 16) : Math.min(space, 16)).toString('latin1').toUpperCase();
      if (KNOWN_COMMANDS.has(name)) stage = name;
      else stage = 'OTHER';
      cs.onCommand(name);
      // RFC 5321 size limits (command-limits.ts), on the octets as sent, for the commands we know but
      // AUTH. Not while smtp-server still discards plaintext (a TLS upgrade in progress) or before its
      // greeting: it answers those itself. Unknown commands keep smtp-server's answers (500 not
      // recognized, 421 after ten of them or at once for an HTTP request line).
      const over = KNOWN_COMMANDS.has(name) && name !== 'AUTH' && conn._ready && !conn._upgrading ? commandLimitRefusal(command, name) : undefined;
      if (over) {
        cs.rejectReason = over.reason;
        conn.send(over.code, over.text);
        // As smtp-server goes on after a command it refuses itself: on a later tick, once writable.
        setImmediate(() => conn._whenWritable(callback ?? (() => {})));
        return;
      }
    }
    onCommand(command, callback);
  };

  const onClose = conn._onClose.bind(conn);
  conn._onClose = () => {
    cs.dispose();
    onClose();
  };
}

/**
 * Implicit TLS: sockets still in their handshake have no SMTP session yet, so the pools do not see
 * them; smtp-server bounds them only in total (maxClients). This bounds them per client prefix too,
 * so one network cannot fill the handshake queue: the surplus is dropped (nothing can be said
 * before the handshake).
 */
export function limitPendingHandshakes(server: SMTPServer, perPrefix: number, prefixLengths: PrefixLengths): void {
  const pending = new Map<string, number>();
  const accept = server._acceptSocket.bind(server);
  server._acceptSocket = (socket, handshake) => {
    if (!handshake) return accept(socket, handshake);
    const prefix = clientPrefix(socket.remoteAddress ?? '', prefixLengths);
    const n = pending.get(prefix) ?? 0;
    if (n >= perPrefix) {
      socket.on('error', () => {});
      socket.destroy();
      return false;
    }
    const release = accept(socket, handshake);
    if (!release) return false;
    pending.set(prefix, n + 1);
    let done = false;
    const drop = () => {
      if (done) return;
      done = true;
      const left = (pending.get(prefix) ?? 1) - 1;
      if (left <= 0) pending.delete(prefix);
      else pending.set(prefix, left);
    };
    socket.once('close', drop);
    return () => {
      drop();
      release();
    };
  };
}
