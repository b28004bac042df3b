/**
 * RFC 5321 §4.5.3.1 size limits on command lines, checked on the octets the client sent, before
 * smtp-server parses them (smtp-hooks.ts). What smtp-server does on its own: a command line over
 * 16 KiB closes the session (421 4.4.2), and a mailbox over 253 characters — UTF-16 code units,
 * counted after it drops a source route and before it turns A-labels into Unicode — is a syntax
 * error (501 5.1.3 / 5.1.7). Neither is the RFC's octet limit, so:
 *
 * - a command line is at most 512 octets with its CRLF (§4.5.3.1.4); MAIL may be longer by the
 *   parameters the ingress offers, since each SMTP extension raises the limit by its own; AUTH lines
 *   (RFC 4954: up to 12,288 octets) are left to smtp-server's 16 KiB bound. Past it: 500 5.5.2,
 *   the RFC's "500 Line too long" (§4.5.3.1.10), and the session goes on.
 * - a reverse- or forward-path is at most 256 octets with its angle brackets and any source route
 *   (§4.5.3.1.3): a UTF-8 mailbox of 253 characters is up to 759 octets, and a source route is
 *   unbounded up to the line limit. Past it: 501, with smtp-server's enhanced code for the same
 *   command's syntax errors (5.1.7 sender, 5.1.3 recipient; RFC 5321's example is "501 Path too
 *   long"), so one limit gets one answer whichever of the two catches it.
 *
 * The domain limit (255 octets, §4.5.3.1.2) follows from the path's: inside 256 octets a domain has
 * at most 252. The local-part limit (64 octets, §4.5.3.1.1) is deliberately not enforced: VERP and
 * SRS return paths, Gmail's forwarding senders (`user+caf_=…=example.org@gmail.com`) and mailing-list
 * confirmation addresses exceed it, Postfix, Exim and smtp-server accept them, and §4.5.3.1 asks
 * servers to impose no limits "to the maximum extent possible"; the path bound already bounds them.
 * Replies name the limit, never the client's text.
 */

/** RFC 5321 §4.5.3.1.4, with the CRLF. */
export const MAX_COMMAND_LINE_OCTETS = 512;

/**
 * The longest ESMTP parameters the ingress offers on MAIL, each with its leading space: SIZE with
 * 20 digits (RFC 1870), BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), and AUTH= whose value may
 * be 500 octets (RFC 4954 §5; submission offers AUTH).
 */
const MAIL_PARAMETER_OCTETS = ' SIZE='.length + 20 + ' BODY=8BITMIME'.length + ' SMTPUTF8'.length + ' AUTH='.length + 500;

/** MAIL's line limit: the base plus the parameters above (1,067 octets). */
export const MAX_MAIL_LINE_OCTETS = MAX_COMMAND_LINE_OCTETS + MAIL_PARAMETER_OCTETS;

/** RFC 5321 §4.5.3.1.3: reverse-path or forward-path with "<", ">" and any source route. */
export const MAX_PATH_OCTETS = 256;

export interface LimitRefusal {
  code: number;
  /** The reply text, starting with the enhanced status code. */
  text: string;
  /** For the rejections metric. */
  reason: 'line-too-long' | 'path-too-long';
}

/**
 * The refusal for a command line over an RFC 5321 size limit, or undefined. `line` is the command
 * as received, without its line ending; `name` its upper-cased command word. AUTH and AUTH
 * continuation lines are not for this check, nor unknown commands (the caller skips them).
 */
export function commandLimitRefusal(line: Buffer, name: string): LimitRefusal | undefined {
  const limit = name === 'MAIL' ? MAX_MAIL_LINE_OCTETS : MAX_COMMAND_LINE_OCTETS;
  if (line.length + 2 > limit) return { code: 500, text: `5.5.2 Line too long (at most ${limit} octets with CRLF)`, reason: 'line-too-long' };
  if (name !== 'MAIL' && name !== 'RCPT') return undefined;
  // The path as smtp-server takes it: the first word after the first colon. The line is bounded above,
  // so this is at most ~1 KB of work.
  const text = line.toString();
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  const path = text.slice(colon + 1).trim().split(/\s+/, 1)[0] ?? '';
  if (Buffer.byteLength(path) <= MAX_PATH_OCTETS) return undefined;
  return name === 'MAIL'
    ? { code: 501, text: `5.1.7 Sender address too long (at most ${MAX_PATH_OCTETS} octets with the angle brackets)`, reason: 'path-too-long' }
    : { code: 501, text: `5.1.3 Recipient address too long (at most ${MAX_PATH_OCTETS} octets with the angle brackets)`, reason: 'path-too-long' };
}
