/**
 * Every service `scop run` knows, and what `scop start` runs, in start order (stopped in reverse).
 *
 * The inbound chain (mime → auth → spam → firewall → decision) is deployed one of two ways,
 * chosen by SCOP_INBOUND: `fused` (the default) runs it as one `inbound` service — one process,
 * one transaction per chunk from mail.inbound.raw to mail.inbound.decided — and `separate` runs each
 * stage as its own service over the intermediate topics (to scale one hot stage on its own).
 */
import type { ServiceDefinition } from '../runtime/service.ts';
import { ConfigError } from '../runtime/config.ts';
import { ingressService } from '../ingress/service.ts';
import { matrixNotifierService } from '../egress/matrix/service.ts';
import { authService } from '../processors/auth/service.ts';
import { mimeService } from '../processors/mime/service.ts';
import { spamService } from '../processors/spam/service.ts';
import { spamLearnerService } from '../processors/spam/learner/service.ts';
import { dkimSignService } from '../processors/dkim-sign/service.ts';
import { firewallService } from '../processors/firewall/service.ts';
import { decisionService } from '../processors/decision/service.ts';
import { inboundService } from '../processors/inbound/service.ts';
import { egressService } from '../egress/relay/service.ts';
import { consoleService } from '../console/service.ts';

/** The inbound chain's stages as separate services, in chain order. */
export const INBOUND_SEPARATE: ServiceDefinition[] = [mimeService, authService, spamService, firewallService, decisionService];

/** Every service `scop run <name>` can run. */
export const SERVICES: ServiceDefinition[] = [ingressService, inboundService, ...INBOUND_SEPARATE, spamLearnerService, egressService, dkimSignService, matrixNotifierService, consoleService];

export type InboundDeployment = 'fused' | 'separate';

export function inboundDeployment(env: NodeJS.ProcessEnv): InboundDeployment {
  const v = env.SCOP_INBOUND?.trim() || 'fused';
  if (v !== 'fused' && v !== 'separate') throw new ConfigError('SCOP_INBOUND', `unknown inbound deployment "${v}"`, 'use fused (one process for mime → decision, the default) or separate (one process per stage)');
  return v;
}

/** What `scop start` runs for this deployment, in start order. */
export function startedServices(env: NodeJS.ProcessEnv): ServiceDefinition[] {
  const inbound = inboundDeployment(env) === 'fused' ? [inboundService] : INBOUND_SEPARATE;
  return [ingressService, ...inbound, spamLearnerService, egressService, dkimSignService, matrixNotifierService, consoleService];
}
