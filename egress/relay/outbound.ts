/**
 * Outbound delivery by MX routing (jobs with origin "outbound"): the recipients of a message are
 * grouped by domain, and each domain gets one SMTP transaction at the first of its MX hosts that
 * answers (mx.ts), with STARTTLS whenever offered. When the domain publishes an MTA-STS policy in
 * `enforce` mode (mta-sts.ts), only the MX hosts the policy lists are used, STARTTLS is required
 * and the certificate must be valid for the MX host name; otherwise nothing is sent and the
 * recipients wait for a retry (RFC 8461 §5.1: no delivery in clear, no delivery to a host the
 * policy does not name).
 *
 * What goes on the wire is wire.ts's: our Received line, the DKIM-Signature fields, envelope.raw.
 */
import type { InDoubtGate } from './in-doubt.ts';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { Counter, Registry } from 'prom-client';
import { counterOn } from '../../runtime/metrics.ts';
import type { Logger } from '../../runtime/log.ts';
import type { MailRecord } from '../../schemas/types.ts';
import type { OutboundConfig } from './config.ts';
import { addressesOf, domainOf, refusedAddress, resolveMxRoute, type Dns, type MxHost } from './mx.ts';
import { mxMatches, type MtaStsPolicies, type StsPolicy } from './mta-sts.ts';
import type { Limiter } from './limiter.ts';
import { smtpSend, type RecipientOutcome, type SmtpSend, type SmtpTarget } from './transport.ts';
import { outboundWire } from './wire.ts';

/** Addresses tried per domain and attempt (Postfix's smtp_mx_address_limit is 5 too). */
const MAX_ADDRESSES = 5;

export interface OutboundMetrics {
  sessions: Counter<'result' | 'tls' | 'mta_sts'>;
  routeFailures: Counter<'reason'>;
}

export function outboundMetrics(registry: Registry): OutboundMetrics {
  return {
    sessions: counterOn(registry, { name: 'scop_egress_outbound_sessions_total', help: 'Outbound SMTP sessions to MX hosts by result (answered: a final answer for at least one recipient; temporary: try the next host), TLS used, and the domain\'s MTA-STS mode.', labelNames: ['result', 'tls', 'mta_sts'] as const }),
    routeFailures: counterOn(registry, { name: 'scop_egress_outbound_route_failures_total', help: 'Outbound domains not tried: dns-temporary, no-such-domain, null-mx, no-address, refused-address (MX addresses only loopback/private/reserved), mta-sts-mx-mismatch.', labelNames: ['reason'] as const }),
  };
}

export interface OutboundDeps {
  cfg: OutboundConfig & { hostname: string; timeoutMs: number };
  dns: Dns;
  sts: MtaStsPolicies;
  metrics: OutboundMetrics;
  random?: () => number;
  /** How a message goes to one MX address: the relay's session pool (smtp-pool.ts); default one session per message. */
  send?: SmtpSend;
  /** Bounds the MX transactions past their "." (EGRESS_MX_MAX_IN_DOUBT, in-doubt.ts). */
  inDoubt?: InDoubtGate;
}

export class OutboundRouter {
  /** Trust for enforce-mode sessions: the public roots plus EGRESS_TLS_CA_FILE, parsed once, not per connection. */
  private readonly enforceTrust: SecureContext;

  constructor(private readonly d: OutboundDeps) {
    this.enforceTrust = createSecureContext({ ca: [...rootCertificates, ...d.cfg.extraCa], minVersion: 'TLSv1.2' });
  }

  /**
   * Every recipient's outcome; domains are delivered concurrently, each taking a limiter slot.
   * `settled` gets each domain's outcomes the moment they are known (the relay records final ones at once).
   */
  async deliver(record: MailRecord, recipients: string[], limiter: Limiter, log: Logger, settled?: (outcomes: RecipientOutcome[]) => void): Promise<RecipientOutcome[]> {
    const byDomain = new Map<string, string[]>();
    for (const r of recipients) {
      const d = domainOf(r);
      byDomain.set(d, [...(byDomain.get(d) ?? []), r]);
    }
    const results = await Promise.all([...byDomain].map(async ([domain, rcpts]) => {
      const outcomes = await limiter.run(() => this.deliverDomain(record, domain, rcpts, log.child({ domain })));
      settled?.(outcomes);
      return outcomes;
    }));
    return results.flat();
  }

  private async policyFor(domain: string, log: Logger): Promise<StsPolicy | null> {
    if (!this.d.cfg.mtaSts) return null;
    const r = await this.d.sts.lookup(domain);
    if (r.error) log.warn({ error: r.error, source: r.source }, 'MTA-STS policy lookup had a problem');
    return r.policy && r.policy.mode !== 'none' ? r.policy : null;
  }

  async deliverDomain(record: MailRecord, domain: string, recipients: string[], log: Logger): Promise<RecipientOutcome[]> {
    const { cfg, dns, metrics } = this.d;
    const tag = `mx:${domain}`;
    const fail = (kind: 'permanent' | 'temporary', reply: string) => recipients.map((recipient) => ({ recipient, kind, reply, nextHop: tag }));
    const route = await resolveMxRoute(domain, dns, this.d.random);
    if (route.kind !== 'hosts') {
      metrics.routeFailures.inc({ reason: route.reason });
      log.warn({ reply: route.reply }, 'no route to the recipient domain');
      return fail(route.kind, route.reply);
    }
    const policy = await this.policyFor(domain, log);
    const enforce = policy?.mode === 'enforce';
    let hosts: MxHost[] = route.hosts;
    if (policy) {
      const mismatched = hosts.filter((h) => !mxMatches(h.name, policy)).map((h) => h.name);
      if (mismatched.length) log.warn({ mode: policy.mode, mismatched, allowed: policy.mx }, enforce ? 'MTA-STS enforce: MX hosts not in the policy are skipped' : 'MTA-STS testing: MX hosts not in the policy (delivering anyway)');
      if (enforce) hosts = hosts.filter((h) => mxMatches(h.name, policy));
      if (hosts.length === 0) {
        metrics.routeFailures.inc({ reason: 'mta-sts-mx-mismatch' });
        return fail('temporary', `451 4.7.5 MTA-STS policy of ${domain} (mode enforce, mx ${policy.mx.join(', ')}) names none of its MX hosts (${route.hosts.map((h) => h.name).join(', ')}); not delivered`);
      }
    }
    const message = outboundWire(record, { hostname: cfg.hostname, recipient: recipients.length === 1 ? recipients[0] : undefined });
    const env = { from: record.envelope.mailFrom, recipients, use8BitMime: record.envelope.bodyType !== 'SEVEN_BIT', recordId: record.envelope.id };
    const send = this.d.send ?? smtpSend;
    const tried: string[] = [];
    let last: RecipientOutcome[] | undefined;
    let temporaryDns = false;
    const refused: string[] = [];
    for (const host of hosts) {
      if (tried.length >= MAX_ADDRESSES) break;
      const a = await addressesOf(host.name, dns);
      if (!a.addresses.length) {
        temporaryDns ||= a.temporary;
        tried.push(`${host.name}: ${a.error}`);
        continue;
      }
      for (const ip of a.addresses) {
        if (tried.length >= MAX_ADDRESSES) break;
        // Checked on the address we then connect to: no second lookup an attacker's DNS could answer differently.
        const why = refusedAddress(ip, cfg.allowedNetworks);
        if (why) {
          refused.push(`${host.name}[${ip}] (${why})`);
          log.warn({ mx: host.name, ip, range: why }, 'MX address refused: not a global unicast address (EGRESS_MX_ALLOWED_NETWORKS allows one)');
          continue;
        }
        const target: SmtpTarget = {
          host: ip, port: cfg.mxPort, name: cfg.hostname, timeoutMs: cfg.timeoutMs, inDoubt: this.d.inDoubt,
          // enforce: TLS required and verified against the MX name; otherwise opportunistic (RFC 7435: any certificate).
          starttls: enforce ? 'require' : 'opportunistic',
          tls: enforce ? { servername: host.name, rejectUnauthorized: true, secureContext: this.enforceTrust } : { servername: host.name, rejectUnauthorized: false },
        };
        const r = await send(target, env, message);
        const nextHop = `smtp://${host.name}[${ip}]:${cfg.mxPort}`;
        const outcomes = r.outcomes.map((o) => ({ ...o, nextHop, remoteMta: /^\d{3}\b/.test(o.reply) ? host.name : undefined }));
        const answered = outcomes.some((o) => o.kind !== 'temporary');
        metrics.sessions.inc({ result: answered ? 'answered' : 'temporary', tls: r.tls ? 'yes' : 'no', mta_sts: policy?.mode ?? 'none' });
        log.debug({ mx: host.name, ip, tls: r.tls, mtaSts: policy?.mode ?? 'none', outcomes: outcomes.map((o) => `${o.recipient}: ${o.kind}`) }, 'MX session');
        // A final answer for some recipient ends this attempt; a temporary failure for all of them tries the next host (RFC 5321 §5.1).
        if (answered) return outcomes;
        tried.push(`${host.name}[${ip}]: ${outcomes[0]?.reply ?? ''}`);
        last = outcomes;
      }
    }
    if (!last && refused.length && !temporaryDns) {
      // Every address the domain's MX hosts have is one we must not connect to: that will not fix itself.
      metrics.routeFailures.inc({ reason: 'refused-address' });
      return fail('permanent', `550 5.4.4 MX hosts of ${domain} have only loopback, private or reserved addresses, refused: ${refused.join(', ')}`);
    }
    if (!last) {
      metrics.routeFailures.inc({ reason: 'no-address' });
      return fail('temporary', `451 4.4.4 no address for any MX host of ${domain}${temporaryDns ? ' (DNS failure)' : ''}: ${tried.join('; ')}`);
    }
    const summary = tried.length > 1 ? ` (tried ${tried.join('; ')})` : '';
    return last.map((o) => ({ ...o, reply: `${o.reply}${summary}`.slice(0, 2000) }));
  }
}
