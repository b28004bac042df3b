/**
 * Optional SPF refusal at SMTP time (INGRESS_SPF_REJECT=true; off by default): a sender domain
 * whose policy says the client may not send for it (`-all` matched: result `fail`, RFC 7208
 * section 8.4) is refused with `550 5.7.23` (RFC 7372) at RCPT — except for postmaster, so a
 * broken SPF record can still be reported. Every other result (softfail, neutral, none, errors,
 * a check that takes too long) lets the message in; the auth stage evaluates SPF fully later.
 *
 * The evaluation is mailauth's (the same library the auth stage uses), over the ingress's cached
 * resolver, and bounded in time as a whole.
 */
import { spf } from 'mailauth/lib/spf/index.js';
import type { DnsCache } from './dns-cache.ts';

export interface SpfOutcome {
  fail: boolean;
  result: string;
  domain: string;
  /** The domain's explanation (exp=) or mailauth's comment. */
  reason: string;
}

interface MailauthSpf { domain: string; status: { result: string; comment?: string }; explanation?: string }

export async function checkSpfAtSmtp(o: { ip: string; helo: string; mailFrom: string; mta: string; dns: DnsCache; timeoutMs: number }): Promise<SpfOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<SpfOutcome>((ok) => {
    timer = setTimeout(() => ok({ fail: false, result: 'temperror', domain: '', reason: `no SPF result within ${o.timeoutMs} ms` }), o.timeoutMs);
  });
  const check = (async (): Promise<SpfOutcome> => {
    try {
      const res = (await spf({ sender: o.mailFrom || undefined, ip: o.ip, helo: o.helo, mta: o.mta, strict: true, resolver: ((name: string, type: string) => o.dns.resolve(name, type as never)) as never })) as unknown as MailauthSpf;
      return { fail: res.status.result === 'fail', result: res.status.result, domain: res.domain, reason: res.explanation || res.status.comment || '' };
    } catch (e) {
      return { fail: false, result: 'temperror', domain: '', reason: (e as Error).message };
    }
  })();
  try {
    return await Promise.race([check, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
