/**
 * The trace header the ingress prepends (RFC 5321 section 4.4, protocol names from RFC 3848 and
 * RFC 6531). "for" is given only for a single recipient, so one message does not disclose its
 * other recipients.
 *
 * Every line stays under RFC 5322's 998 octets because its parts are bounded before they get here:
 * HELO by its syntax check (a domain of at most 253 octets or an address literal without a zone,
 * syntax.ts), the client's name by the host-name check, and the recipient at RCPT (a path of at most
 * 256 octets, command-limits.ts). With SMTPUTF8 the recipient is written with its A-labels turned
 * into Unicode, which can grow it: one punycode character per code point at worst, so a 63-octet
 * label becomes at most 224 octets (measured: 56 emoji) and a whole 254-octet mailbox at most about
 * 890 — the "for" line stays under 900 (tested in smtp.test.ts with that recipient).
 */
export interface ReceivedInfo {
  helo: string;
  clientHostname: string | null;
  clientIp: string;
  byHost: string;
  recordId: string;
  tls: { protocol: string; cipher: string } | null;
  authenticated: boolean;
  smtpUtf8: boolean;
  rcptTo: string[];
  date: Date;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** RFC 5322 date-time in UTC, e.g. "Thu, 27 Nov 2025 03:26:00 +0000". */
export function rfc5322Date(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

export function addressLiteral(ip: string): string {
  return ip.includes(':') ? `[IPv6:${ip}]` : `[${ip}]`;
}

export function protocolName(i: Pick<ReceivedInfo, 'tls' | 'authenticated' | 'smtpUtf8'>): string {
  return `${i.smtpUtf8 ? 'UTF8SMTP' : 'ESMTP'}${i.tls ? 'S' : ''}${i.authenticated ? 'A' : ''}`;
}

export function receivedHeader(i: ReceivedInfo): Buffer {
  const lines = [`Received: from ${i.helo} (${i.clientHostname ?? 'unknown'} ${addressLiteral(i.clientIp)})`];
  if (i.tls) lines.push(`\t(using ${i.tls.protocol} with cipher ${i.tls.cipher})`);
  lines.push(`\tby ${i.byHost} (scop) with ${protocolName(i)} id ${i.recordId}`);
  if (i.rcptTo.length === 1) lines.push(`\tfor <${i.rcptTo[0]}>;`);
  else lines[lines.length - 1] += ';';
  lines.push(`\t${rfc5322Date(i.date)}`);
  return Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');
}
