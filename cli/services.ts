/** Every service `scop start` runs, in start order (stopped in reverse). */
import type { ServiceDefinition } from '../runtime/service.ts';
import { ingressService } from '../ingress/service.ts';
import { matrixNotifierService } from '../egress/matrix/service.ts';
import { authService } from '../processors/auth/service.ts';
import { mimeService } from '../processors/mime/service.ts';
import { spamService } from '../processors/spam/service.ts';
import { spamLearnerService } from '../processors/spam/learner/service.ts';
import { dkimSignService } from '../processors/dkim-sign/service.ts';
import { firewallService } from '../processors/firewall/service.ts';
import { decisionService } from '../processors/decision/service.ts';
import { egressService } from '../egress/relay/service.ts';
import { consoleService } from '../console/service.ts';

export const SERVICES: ServiceDefinition[] = [ingressService, mimeService, authService, spamService, spamLearnerService, firewallService, decisionService, egressService, dkimSignService, matrixNotifierService, consoleService];
