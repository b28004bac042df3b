/** Every service `scop start` runs, in start order (stopped in reverse). */
import type { ServiceDefinition } from '../runtime/service.ts';
import { ingressService } from '../ingress/service.ts';
import { matrixNotifierService } from '../egress/matrix/service.ts';
import { authService } from '../processors/auth/service.ts';

export const SERVICES: ServiceDefinition[] = [ingressService, authService, matrixNotifierService];
