import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One structured logger per process. Every log line about a message carries `recordId`,
 * so `grep recordId=<id>` (or a Loki query) follows one mail through every stage.
 */
export const rootLogger: Logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export function loggerFor(component: string): Logger {
  return rootLogger.child({ component });
}
