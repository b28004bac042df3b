/**
 * The DKIM signing stage: mail.outbound.raw → check the submission MAC (the record was written by
 * our ingress for that user: runtime/submission-mac.ts) → check that the SMTP AUTH user may send as
 * every From address and the Sender, and that the From domain has a key → sign (RSA-SHA256 and/or Ed25519-SHA256) → the
 * record with its `dkimSign` section on mail.outbound.signed. envelope.raw is not altered: the
 * section carries the DKIM-Signature fields and the egress sends `dkimSign.headers + envelope.raw`.
 * A refusal dead-letters the record (reason process-error, text "dkim-sign refused (<code>): …").
 */
import type { Counter, Registry } from 'prom-client';
import { counterOn } from '../../runtime/metrics.ts';
import { defineStage } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import type { MailRecord } from '../../schemas/types.ts';
import { loadSubmissionMacKey, submissionMacProblem } from '../../runtime/submission-mac.ts';
import { loadDkimSignConfig, type DkimSignConfig } from './config.ts';
import { SigningRefused } from './policy.ts';
import { signMessage, STAGE_VERSION } from './sign.ts';

interface DkimSignState {
  config: DkimSignConfig;
  macKey: Buffer;
  metrics: DkimSignMetrics;
}

interface DkimSignMetrics {
  messages: Counter<'result' | 'code'>;
  signatures: Counter<'algorithm'>;
}

function dkimSignMetrics(registry: Registry): DkimSignMetrics {
  return {
    messages: counterOn(registry, { name: 'scop_dkim_sign_messages_total', help: 'Outbound messages signed or refused (code: no-key, not-authorized, no-from, …).', labelNames: ['result', 'code'] as const }),
    signatures: counterOn(registry, { name: 'scop_dkim_sign_signatures_total', help: 'DKIM signatures made, by algorithm.', labelNames: ['algorithm'] as const }),
  };
}

export const dkimSignService = defineStage<DkimSignState, MailRecord, MailRecord>({
  name: 'dkim-sign',
  version: STAGE_VERSION,
  description: 'DKIM signing of authenticated submissions (RSA-SHA256 and Ed25519-SHA256), after checking the user may send as the From address',
  input: TOPICS.outboundRaw,
  output: TOPICS.outboundSigned,
  defaultMetricsPort: 9478,
  processTimeoutMs: 30000,
  // CPU-bound (RSA): more in flight would not go faster on one event loop.
  concurrency: 4,
  init(svc) {
    const config = loadDkimSignConfig(svc.env);
    // Read only: the ingress creates it; a key of our own would make every record fail the check.
    const macKey = loadSubmissionMacKey({ file: svc.env.SCOP_SUBMISSION_MAC_KEY_FILE, dataDir: svc.dataDir, create: false });
    const domains = [...config.keys.entries()].map(([d, ks]) => `${d}(${ks.map((k) => `${k.selector}:${k.algorithm}`).join(',')})`);
    if (domains.length === 0) svc.log.warn('no DKIM keys configured (DKIM_KEY_DIR / DKIM_KEYS): every outbound message will be refused as no-key');
    else svc.log.info({ domains, signHeaders: config.signHeaders, oversign: config.oversignHeaders }, 'dkim-sign keys loaded');
    return { config, macKey, metrics: dkimSignMetrics(svc.metrics) };
  },
  async process(record, ctx) {
    const { config, metrics } = ctx.state;
    const e = record.envelope;
    try {
      // First: only what our ingress wrote for a logged-in user is signed, whoever else can write the topic.
      const forged = submissionMacProblem(ctx.state.macKey, e);
      if (forged) throw new SigningRefused('bad-submission-mac', forged);
      // Sign the message as the client sent it; our Received line (raw[..traceLength]) is not signed.
      const { section } = await signMessage(e.raw.subarray(e.traceLength ?? 0), { config, authUser: e.authUser });
      metrics.messages.inc({ result: 'signed', code: '' });
      for (const s of section.signatures) metrics.signatures.inc({ algorithm: s.algorithm });
      ctx.log.debug({ fromDomain: section.fromDomain, signatures: section.signatures.map((s) => `${s.domain}/${s.selector} ${s.algorithm}`) }, 'signed');
      return { ...record, dkimSign: section };
    } catch (err) {
      if (err instanceof SigningRefused) {
        metrics.messages.inc({ result: 'refused', code: err.code });
        ctx.log.warn({ code: err.code, authUser: e.authUser, mailFrom: e.mailFrom }, err.message);
      }
      throw err; // → ops.dead-letters with the reason and the original record bytes
    }
  },
});
