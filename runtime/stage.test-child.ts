/**
 * Runs one stage in this process on topics given by the environment (STAGE_MODULE, STAGE_EXPORT,
 * STAGE_INPUT, STAGE_OUTPUT, STAGE_DLQ, STAGE_GROUP; KAFKA_CLIENT picks the client; STAGE_CHILD_NAME
 * names its Kafka client, test-<name>, so a test can tell two instances apart in the group): what tests
 * fork, SIGKILL and SIGSTOP. Reports `{type:'ready'}` over IPC; SIGTERM stops it gracefully.
 */
import { pathToFileURL } from 'node:url';
import type { StageService } from './stage.ts';
import { testServiceContext } from './stage-testing.ts';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`stage-child: ${k} is not set`);
  return v;
};

const mod = (await import(pathToFileURL(env('STAGE_MODULE')).href)) as Record<string, StageService>;
const service = mod[env('STAGE_EXPORT')];
if (!service?.run) throw new Error(`stage-child: ${env('STAGE_MODULE')} has no stage export ${env('STAGE_EXPORT')}`);
const running = await service.run(testServiceContext(process.env.STAGE_CHILD_NAME ?? `${service.name}-child`), {
  input: env('STAGE_INPUT'), output: env('STAGE_OUTPUT'), deadLetters: env('STAGE_DLQ'), groupId: env('STAGE_GROUP'),
  sessionTimeoutMs: process.env.STAGE_SESSION_TIMEOUT_MS ? Number(process.env.STAGE_SESSION_TIMEOUT_MS) : undefined,
});
process.send?.({ type: 'ready' });
const stop = async () => {
  await running.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('disconnect', () => void stop());
