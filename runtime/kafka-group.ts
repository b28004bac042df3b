/**
 * Group timing shared by both client implementations (runtime/kafka.ts's GroupDefaults): how long a
 * crashed member keeps its partitions, and how often a live one says it is alive.
 */

/** The broker's group.min.session.timeout.ms is 6 s; 10 s leaves room for a loaded box's pauses. */
export const DEFAULT_SESSION_TIMEOUT_MS = 10000;

/** The session timeout a consumer uses: its own, the client's default (KAFKA_SESSION_TIMEOUT_MS), or 10 s. */
export const sessionTimeoutOf = (opts: { sessionTimeoutMs?: number }, settings: { group?: { sessionTimeoutMs?: number } }): number =>
  opts.sessionTimeoutMs ?? settings.group?.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;

/** A sixth of the session (Kafka recommends at most a third), between 0.5 and 3 s. */
export const heartbeatIntervalFor = (sessionTimeoutMs: number): number => Math.min(3000, Math.max(500, Math.floor(sessionTimeoutMs / 6)));
