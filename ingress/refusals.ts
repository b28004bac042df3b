/**
 * Every pre-queue refusal is counted (`scop_ingress_policy_refusals_total{listener,check}`) and
 * written to the `smtp.refusals` topic as an SmtpRefusal record keyed by the client prefix, so the
 * firewall and dashboards see who was refused, why and when. Records go through their own producer
 * (a failure there never touches the mail hand-off) and are rate-limited per prefix: a flood
 * cannot turn into a flood of Kafka writes. The refusals left out are counted in the next record
 * of that prefix (`suppressed`) and in `scop_ingress_policy_refusals_unrecorded_total`.
 */
import type { Counter } from 'prom-client';
import type { Logger } from '../runtime/log.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import type { DnsblHit, RefusalCheck, SmtpRefusal, SmtpStage } from '../schemas/types.ts';
import type { KafkaHandoff } from './handoff.ts';
import { TokenBuckets } from './limits.ts';
import type { ClientSession } from './session.ts';

export interface Refusal {
  stage: SmtpStage;
  check: RefusalCheck;
  code: number;
  enhanced: string;
  text: string;
  helo?: string | null;
  mailFrom?: string | null;
  rcptTo?: string | null;
  authUser?: string | null;
  dnsbl?: DnsblHit[];
}

export interface RefusalLogOptions {
  side: KafkaHandoff;
  codec: RecordCodec;
  schemaId: number;
  topic: string;
  ingressHost: string;
  perPrefixPerMinute: number;
  counted: Counter<'listener' | 'check'>;
  unrecorded: Counter<'reason'>;
  log: Logger;
}

export class RefusalLog {
  private readonly buckets: TokenBuckets;
  private readonly suppressed = new Map<string, number>();

  constructor(private readonly o: RefusalLogOptions) {
    this.buckets = new TokenBuckets(o.perPrefixPerMinute);
  }

  record(cs: ClientSession, r: Refusal): void {
    this.o.counted.inc({ listener: cs.listener, check: r.check });
    if (!this.buckets.take(cs.prefix)) {
      this.o.unrecorded.inc({ reason: 'rate-limit' });
      if (this.suppressed.size > 10_000) this.suppressed.clear(); // informational only; bound the memory
      this.suppressed.set(cs.prefix, (this.suppressed.get(cs.prefix) ?? 0) + 1);
      return;
    }
    const value: SmtpRefusal = {
      at: Date.now(),
      ingressHost: this.o.ingressHost,
      listener: cs.listener,
      clientIp: cs.ip,
      clientPrefix: cs.prefix,
      helo: r.helo || null,
      mailFrom: r.mailFrom ?? null,
      rcptTo: r.rcptTo ?? null,
      authUser: r.authUser ?? null,
      stage: r.stage,
      check: r.check,
      code: r.code,
      enhancedCode: r.enhanced,
      reason: r.text,
      dnsbl: r.dnsbl ?? [],
      suppressed: this.suppressed.get(cs.prefix) ?? 0,
    };
    this.suppressed.delete(cs.prefix);
    let bytes: Buffer;
    try {
      bytes = this.o.codec.encodeWith(this.o.schemaId, 'SmtpRefusal', value);
    } catch (e) {
      this.o.unrecorded.inc({ reason: 'encode' });
      this.o.log.error({ err: (e as Error).message }, 'cannot encode a refusal record');
      return;
    }
    this.o.side.publish(this.o.topic, cs.prefix, bytes).catch((e: Error) => {
      this.o.unrecorded.inc({ reason: 'kafka' });
      this.o.log.warn({ topic: this.o.topic, err: e.message }, 'refusal record not written');
    });
  }
}
