/**
 * RFC 5321 syntax checks that smtp-server leaves to the application: the HELO/EHLO argument
 * (Domain / address-literal, section 4.1.2) and non-ASCII addresses without SMTPUTF8 (RFC 6531).
 * smtp-server already checks MAIL/RCPT path syntax, parameters and control characters.
 */
import { isIPv4, isIPv6 } from 'node:net';

// Let-dig [Ldh-str]; underscores are tolerated because real clients (Windows host names) send them.
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

export function isValidDomain(name: string): boolean {
  if (!name || name.length > 253) return false;
  const labels = name.replace(/\.$/, '').split('.');
  return labels.every((l) => LABEL.test(l));
}

/** Domain or address literal ([192.0.2.1], [IPv6:2001:db8::1]) as RFC 5321 allows in HELO/EHLO. */
export function isValidHelo(arg: string): boolean {
  if (arg.startsWith('[') && arg.endsWith(']')) {
    const inner = arg.slice(1, -1);
    // RFC 5321 §4.1.3 IPv6-addr has no zone ID; node's isIPv6 takes one of any length
    // (`fe80::1%` and 16 KiB of letters), which then went into our Received line and SPF's %{h}.
    if (/^ipv6:/i.test(inner)) return !inner.includes('%') && isIPv6(inner.slice(5));
    return isIPv4(inner);
  }
  return isValidDomain(arg);
}

export function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}
