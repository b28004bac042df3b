/**
 * The trace header the ingress prepends (RFC 5321 section 4.4, protocol names from RFC 3848 and
 * RFC 6531). "for" is given only for a single recipient, so one message does not disclose its
 * other recipients, and only for a path within RFC 5321's limit, so every line stays under 998 octets.
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

/** RFC 5321 §4.5.3.1.3: the longest forward-path, angle brackets included, is 256 octets; 254 inside them. */
const MAX_PATH_OCTETS = 254;

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
  // A path longer than RFC 5321's 256 octets (smtp-server admits 16 KiB) would make a line past RFC
  // 5322's 998: "for" is optional, so it is left out.
  if (i.rcptTo.length === 1 && Buffer.byteLength(i.rcptTo[0]!) <= MAX_PATH_OCTETS) lines.push(`\tfor <${i.rcptTo[0]}>;`);
  else lines[lines.length - 1] += ';';
  lines.push(`\t${rfc5322Date(i.date)}`);
  return Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');
}
