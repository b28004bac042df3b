/**
 * Recipient validation at RCPT (before DATA), as Postfix does with mydestination,
 * smtpd_relay_restrictions and local_recipient_maps:
 *
 * - a domain that is not local: relayed only for an authenticated (submission) client; on the MX
 *   listener `554 5.7.1 Relay access denied`;
 * - a local domain, when a recipients file is configured: only the addresses it lists (or every
 *   address of a domain listed as `@domain`) exist; others get `550 5.1.1`. A sub-address
 *   (`user+tag@`) falls back to `user@` (INGRESS_RECIPIENT_DELIMITER). Without the file every
 *   address of a local domain is accepted;
 * - `postmaster` and `postmaster@<local domain>` are always accepted (RFC 5321 section 4.5.1).
 *
 * The file (one address or @domain per line, # comments) is re-read when it changes, checked at
 * most once a second. Domains compare in A-label form, local parts case-insensitively.
 */
import { readFileSync, statSync } from 'node:fs';
import { domainToASCII } from 'node:url';

export type RecipientVerdict =
  | { ok: true }
  | { ok: false; check: 'RELAY_DENIED' | 'RECIPIENT_UNKNOWN'; code: number; enhanced: string; text: string };

export function normalizeDomain(domain: string): string {
  const d = domain.trim().replace(/\.$/, '').toLowerCase();
  // Plain ASCII needs no IDNA mapping (the common case, once per RCPT).
  if (/^[a-z0-9._-]*$/.test(d)) return d;
  return (domainToASCII(d) || d).toLowerCase();
}

function splitAddress(address: string): { local: string; domain: string } | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0) return undefined;
  return { local: address.slice(0, at).toLowerCase(), domain: normalizeDomain(address.slice(at + 1)) };
}

export interface RecipientSettings {
  localDomains: string[];
  recipientsFile?: string;
  /** Sub-address delimiter ('' for none). */
  delimiter: string;
}

export class RecipientPolicy {
  private readonly local: Set<string>;
  private listed = new Set<string>();
  private catchAll = new Set<string>();
  private stamp = '';
  private checkedAt = 0;

  constructor(private readonly s: RecipientSettings) {
    this.local = new Set(s.localDomains.map(normalizeDomain));
  }

  isLocal(domain: string): boolean {
    return this.local.has(normalizeDomain(domain));
  }

  check(address: string, authenticated: boolean): RecipientVerdict {
    if (address.toLowerCase() === 'postmaster') return { ok: true };
    const a = splitAddress(address);
    if (!a || !this.local.has(a.domain)) {
      if (authenticated) return { ok: true };
      return { ok: false, check: 'RELAY_DENIED', code: 554, enhanced: '5.7.1', text: `<${address}>: Relay access denied` };
    }
    if (!this.s.recipientsFile || a.local === 'postmaster' || this.exists(a.local, a.domain)) return { ok: true };
    return { ok: false, check: 'RECIPIENT_UNKNOWN', code: 550, enhanced: '5.1.1', text: `<${address}>: Recipient address rejected: User unknown` };
  }

  private exists(local: string, domain: string): boolean {
    this.refresh();
    if (this.catchAll.has(domain) || this.listed.has(`${local}@${domain}`)) return true;
    const cut = this.s.delimiter ? local.indexOf(this.s.delimiter) : -1;
    return cut > 0 && this.listed.has(`${local.slice(0, cut)}@${domain}`);
  }

  private refresh(): void {
    const now = Date.now();
    if (now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    const file = this.s.recipientsFile!;
    let stamp = 'absent';
    try {
      const st = statSync(file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      /* absent: nobody */
    }
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    const { listed, catchAll } = stamp === 'absent' ? { listed: new Set<string>(), catchAll: new Set<string>() } : parseRecipients(readFileSync(file, 'utf8'));
    this.listed = listed;
    this.catchAll = catchAll;
  }
}

/** One address or @domain per line; blank lines and # comments ignored. */
export function parseRecipients(text: string): { listed: Set<string>; catchAll: Set<string> } {
  const listed = new Set<string>();
  const catchAll = new Set<string>();
  for (const line of text.split('\n')) {
    const t = line.replace(/#.*/, '').trim();
    if (!t) continue;
    if (t.startsWith('@')) catchAll.add(normalizeDomain(t.slice(1)));
    else {
      const a = splitAddress(t);
      if (a) listed.add(`${a.local}@${a.domain}`);
    }
  }
  return { listed, catchAll };
}
