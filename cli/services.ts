/** Every service `scop start` runs, in start order (stopped in reverse). */
import type { ServiceDefinition } from '../runtime/service.ts';

export const SERVICES: ServiceDefinition[] = [];
