/** The relay in a child process for crash tests (crash.test.ts): topics and group from env, `ready` over IPC. */
import { testServiceContext } from '../../runtime/stage-testing.ts';
import { startRelay } from './service.ts';

const ctx = testServiceContext('egress-crash-child');
const running = await startRelay(ctx, { topics: JSON.parse(process.env.RELAY_TOPICS!), groupPrefix: process.env.RELAY_GROUP! });
process.send?.({ type: 'ready' });
process.on('SIGTERM', () => void running.stop().then(() => process.exit(0)));
