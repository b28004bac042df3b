/**
 * How the consumer engine trades broker requests for latency (runtime/README.md, "Engine tuning").
 * The broker's CPU goes mostly to requests, not bytes (`npm run bench -- e2e` prints them per
 * message). Sink offset commits are coalesced by default (100 ms): one OffsetCommit shared by every
 * record finished meanwhile instead of about one per message. Fuller fetches (hence larger
 * transactions) are a knob, off by default: measured on a loaded box, a short wait made idle
 * mail-path consumers ask ten times a second and cost more requests than the batching saved.
 */
import { envInt, loadEnv } from './config.ts';

export interface EngineTuning {
  /**
   * Consumers on the mail path (every stage; the egress's decided, signed and requests sinks): the
   * broker answers their fetch once it holds this many bytes … Others (retry topics, notifiers)
   * keep 1 byte / 1 s: they are idle most of the time, and a short wait would make them ask ten
   * times a second for nothing.
   */
  fetchMinBytes: number;
  /** … or this long has passed (also how often an idle mail-path consumer asks). */
  fetchMaxWaitMs: number;
  /** At-least-once sinks: offsets are committed at most this often (0: after every finished record). */
  sinkCommitIntervalMs: number;
}

export const DEFAULT_ENGINE_TUNING: EngineTuning = { fetchMinBytes: 1, fetchMaxWaitMs: 1000, sinkCommitIntervalMs: 100 };

/** What a consumer off the mail path fetches with: answer as soon as anything is there, else ask again each second. */
export const IDLE_FETCH = { minBytes: 1, maxWaitTimeMs: 1000 } as const;

export function engineTuningFromEnv(env: NodeJS.ProcessEnv): EngineTuning {
  const cfg = loadEnv(
    {
      SCOP_FETCH_MIN_BYTES: envInt(1).max(64 * 1024 * 1024).default(DEFAULT_ENGINE_TUNING.fetchMinBytes),
      SCOP_FETCH_MAX_WAIT_MS: envInt(1).max(30000).default(DEFAULT_ENGINE_TUNING.fetchMaxWaitMs),
      SCOP_SINK_COMMIT_INTERVAL_MS: envInt(0).max(60000).default(DEFAULT_ENGINE_TUNING.sinkCommitIntervalMs),
    },
    {
      SCOP_FETCH_MIN_BYTES: 'bytes a stage or sink fetch waits for, 1 to 67108864 (1: answer as soon as anything is there)',
      SCOP_FETCH_MAX_WAIT_MS: 'milliseconds a fetch may wait for SCOP_FETCH_MIN_BYTES, 1 to 30000 (it adds up to this much latency per hop)',
      SCOP_SINK_COMMIT_INTERVAL_MS: 'milliseconds between offset commits of a sink, 0 to 60000 (0: commit after every finished record)',
    },
    env,
  );
  return { fetchMinBytes: cfg.SCOP_FETCH_MIN_BYTES, fetchMaxWaitMs: cfg.SCOP_FETCH_MAX_WAIT_MS, sinkCommitIntervalMs: cfg.SCOP_SINK_COMMIT_INTERVAL_MS };
}

/** How long the engine waits before it calls a consumer stalled, or gives a transactional commit up (runtime/README.md, "Health"). */
export interface EngineDeadlines {
  /** /healthz says stalled after this long without progress while records wait. */
  stallTimeoutMs: number;
  /** A transactional chunk's commit not returned after this long is given up (the partition is read again). */
  commitDeadlineMs: number;
}

export const DEFAULT_ENGINE_DEADLINES: EngineDeadlines = { stallTimeoutMs: 60000, commitDeadlineMs: 120000 };

export function engineDeadlinesFromEnv(env: NodeJS.ProcessEnv): EngineDeadlines {
  const cfg = loadEnv(
    {
      SCOP_STALL_TIMEOUT_MS: envInt(1000).max(86_400_000).default(DEFAULT_ENGINE_DEADLINES.stallTimeoutMs),
      // A commit is Kafka requests only: their retries end well before the default.
      SCOP_COMMIT_DEADLINE_MS: envInt(1000).max(86_400_000).default(DEFAULT_ENGINE_DEADLINES.commitDeadlineMs),
    },
    {
      SCOP_STALL_TIMEOUT_MS: 'milliseconds without progress, while records wait, before /healthz says a consumer is stalled, 1000 to 86400000, e.g. SCOP_STALL_TIMEOUT_MS=60000',
      SCOP_COMMIT_DEADLINE_MS: 'milliseconds a transactional commit may take before it is given up and the partition read again, 1000 to 86400000, e.g. SCOP_COMMIT_DEADLINE_MS=120000',
    },
    env,
  );
  return { stallTimeoutMs: cfg.SCOP_STALL_TIMEOUT_MS, commitDeadlineMs: cfg.SCOP_COMMIT_DEADLINE_MS };
}

/**
 * Coalesces commit requests: with an interval, the first request arms a timer and every request
 * until it fires shares that one commit; with 0, each request commits at once.
 */
export function commitScheduler(intervalMs: number, commit: () => void): { request(): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    request() {
      if (intervalMs === 0) return commit();
      timer ??= setTimeout(() => { timer = undefined; commit(); }, intervalMs);
    },
    cancel() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
