/**
 * Restarts what `scop start` runs when it dies: a service that crashes comes back after a backoff
 * (doubling from SCOP_RESTART_INITIAL_MS up to SCOP_RESTART_MAX_MS, with jitter so services that
 * died together do not hammer the broker together), each restart is logged and counted
 * (scop_supervisor_restarts_total), and after SCOP_RESTART_MAX_FAST_CRASHES fast crashes (runs
 * shorter than SCOP_RESTART_STABLE_MS) within SCOP_RESTART_WINDOW_MS the supervisor gives up and
 * says so through onGiveUp — restarting a service that cannot start only hides the problem.
 *
 * A run that lasted SCOP_RESTART_STABLE_MS resets the backoff: one crash a day restarts after the
 * initial delay, not after the cap. An exit the supervisor asked for (stop()) is never restarted,
 * and neither is one that happens while stopping (Ctrl-C reaches the whole process group: the
 * services may exit before `scop start` has handled its own signal; the pending restart is then
 * cancelled by stop(), since every restart waits at least the initial delay).
 *
 * Hand-written: the process managers on npm (pm2, forever) are whole daemons with their own CLI and
 * state; what is needed here is a hundred lines over child_process.
 */
import type { ChildProcess } from 'node:child_process';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { ConfigError, envInt, loadEnv } from '../runtime/config.ts';
import type { Logger } from '../runtime/log.ts';
import { counterOn, gaugeOn } from '../runtime/metrics.ts';

export interface RestartPolicy {
  /** Delay before the first restart of a crash series (ms). */
  initialDelayMs: number;
  /** Cap of the doubling delay (ms). */
  maxDelayMs: number;
  /** A run at least this long is stable: it resets the backoff and is not a fast crash (ms). */
  stableAfterMs: number;
  /** Give up at this many fast crashes within windowMs. */
  maxFastCrashes: number;
  windowMs: number;
}

const policyShape = {
  SCOP_RESTART_INITIAL_MS: envInt(1).default(1000),
  SCOP_RESTART_MAX_MS: envInt(1).default(60000),
  SCOP_RESTART_STABLE_MS: envInt(1).default(60000),
  SCOP_RESTART_MAX_FAST_CRASHES: envInt(1).max(1000).default(5),
  SCOP_RESTART_WINDOW_MS: envInt(1).default(600000),
};
const policyHelp = {
  SCOP_RESTART_INITIAL_MS: 'milliseconds before the first restart of a crashed service, e.g. 1000',
  SCOP_RESTART_MAX_MS: 'the cap of the doubling restart delay in milliseconds, e.g. 60000 (not below SCOP_RESTART_INITIAL_MS)',
  SCOP_RESTART_STABLE_MS: 'milliseconds a service must run for its crash to count as not fast (and to reset the backoff), e.g. 60000',
  SCOP_RESTART_MAX_FAST_CRASHES: 'how many fast crashes within SCOP_RESTART_WINDOW_MS make scop start give up, 1–1000, e.g. 5',
  SCOP_RESTART_WINDOW_MS: 'the window in milliseconds over which fast crashes are counted, e.g. 600000',
};

/** The restart policy from SCOP_RESTART_* (README "Configuration"). */
export function restartPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RestartPolicy {
  const c = loadEnv(policyShape, policyHelp, env);
  if (c.SCOP_RESTART_MAX_MS < c.SCOP_RESTART_INITIAL_MS) {
    throw new ConfigError('SCOP_RESTART_MAX_MS', `${c.SCOP_RESTART_MAX_MS} is below SCOP_RESTART_INITIAL_MS (${c.SCOP_RESTART_INITIAL_MS})`, 'raise SCOP_RESTART_MAX_MS or lower SCOP_RESTART_INITIAL_MS');
  }
  return {
    initialDelayMs: c.SCOP_RESTART_INITIAL_MS,
    maxDelayMs: c.SCOP_RESTART_MAX_MS,
    stableAfterMs: c.SCOP_RESTART_STABLE_MS,
    maxFastCrashes: c.SCOP_RESTART_MAX_FAST_CRASHES,
    windowMs: c.SCOP_RESTART_WINDOW_MS,
  };
}

/**
 * The delay before restart number `attempt` (0-based within a crash series): the capped doubling
 * delay, of which the upper half is jitter ("equal jitter": never below half the nominal delay, so
 * the growth stays visible, and two services that crashed together spread out).
 */
export function backoffDelay(policy: Pick<RestartPolicy, 'initialDelayMs' | 'maxDelayMs'>, attempt: number, random: () => number = Math.random): number {
  const nominal = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt, 40));
  return Math.round(nominal / 2 + (nominal / 2) * random());
}

/** How a run ended: exit code or signal (one of them is null). */
export interface Exit { code: number | null; signal: NodeJS.Signals | null }

export interface GiveUp extends Exit {
  service: string;
  fastCrashes: number;
  windowMs: number;
  /** How long the last run lasted (ms). */
  ranMs: number;
}

export interface SupervisorEvents {
  /** A restart was scheduled after an unexpected exit. */
  onRestart?(e: Exit & { service: string; attempt: number; delayMs: number; ranMs: number }): void;
  /** A new run started (the first one and every restart). */
  onSpawn?(child: ChildProcess, run: number): void;
}

/** Prometheus metrics on the supervisor's registry. */
export function supervisorMetrics(registry: Registry) {
  return {
    restarts: counterOn<'service' | 'reason'>(registry, { name: 'scop_supervisor_restarts_total', help: 'Restarts of a service scop start runs, by what ended the previous run (exit code or signal)', labelNames: ['service', 'reason'] }),
    up: gaugeOn<'service'>(registry, { name: 'scop_supervisor_service_up', help: '1 while the service scop start runs is running, 0 while it waits for a restart or was given up', labelNames: ['service'] }),
    gaveUp: counterOn<'service'>(registry, { name: 'scop_supervisor_gave_up_total', help: 'Services scop start stopped restarting after repeated fast crashes', labelNames: ['service'] }),
  };
}
export type SupervisorMetrics = ReturnType<typeof supervisorMetrics>;

export interface SupervisedOptions extends SupervisorEvents {
  name: string;
  /** Starts one run of the service. */
  spawn(): ChildProcess;
  policy: RestartPolicy;
  log: Logger;
  metrics?: SupervisorMetrics;
  onGiveUp(e: GiveUp): void;
  random?: () => number;
  /** How long stop() waits after SIGTERM before SIGKILL (ms). */
  killAfterMs?: number;
}

/** One service under supervision. */
export class Supervised {
  private current: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private startedAt = 0;
  private runs = 0;
  /** Restarts in the current crash series (reset by a stable run). */
  private attempt = 0;
  private fastCrashes: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private supervising = false;
  private stopping = false;
  private gaveUp = false;

  constructor(private readonly o: SupervisedOptions) {}

  get child(): ChildProcess | undefined { return this.current; }
  get name(): string { return this.o.name; }
  get hasGivenUp(): boolean { return this.gaveUp; }
  /** For /healthz: running, restarting (waiting out the backoff), gave-up or stopped. */
  get state(): 'running' | 'restarting' | 'gave-up' | 'stopped' {
    if (this.gaveUp) return 'gave-up';
    if (this.timer) return 'restarting';
    const c = this.current;
    return c && c.exitCode === null && c.signalCode === null ? 'running' : 'stopped';
  }

  /** Starts the first run. Exits are not acted on until supervise(): a service that cannot start is the caller's error. */
  start(): ChildProcess {
    this.spawnRun();
    return this.current!;
  }

  /** From now on unexpected exits are restarted. */
  supervise(): void {
    this.supervising = true;
    // It may have died between start() and now.
    if (this.current && (this.current.exitCode !== null || this.current.signalCode !== null)) this.onExit(this.current.exitCode, this.current.signalCode);
  }

  private spawnRun(): void {
    const child = this.o.spawn();
    this.current = child;
    this.startedAt = Date.now();
    this.runs++;
    this.o.metrics?.up.set({ service: this.o.name }, 1);
    let handled = false;
    this.exited = new Promise<void>((ok) => child.once('exit', (code, signal) => {
      if (!handled) { handled = true; this.onExit(code, signal); }
      ok();
    }));
    this.o.onSpawn?.(child, this.runs);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.o.metrics?.up.set({ service: this.o.name }, 0);
    if (!this.supervising || this.stopping || this.gaveUp || this.timer) return;
    const exitedAt = Date.now();
    const ranMs = exitedAt - this.startedAt;
    const { policy } = this.o;
    const delayMs = backoffDelay(policy, ranMs >= policy.stableAfterMs ? 0 : this.attempt, this.o.random);
    // Decide only after a moment: when the exit is part of a stop (Ctrl-C signals the services and
    // `scop start` together), stop() comes within it and nothing is logged, counted or given up.
    const settleMs = Math.min(delayMs, 500);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopping) this.decide({ code, signal }, exitedAt, ranMs, delayMs);
    }, settleMs);
  }

  private decide({ code, signal }: Exit, exitedAt: number, ranMs: number, delayMs: number): void {
    const service = this.o.name;
    const { policy } = this.o;
    if (ranMs >= policy.stableAfterMs) {
      this.attempt = 0;
    } else {
      this.fastCrashes = [...this.fastCrashes.filter((t) => exitedAt - t < policy.windowMs), exitedAt];
      if (this.fastCrashes.length >= policy.maxFastCrashes) {
        this.gaveUp = true;
        this.o.metrics?.gaveUp.inc({ service });
        this.o.log.error({ service, code, signal, ranMs, fastCrashes: this.fastCrashes.length, windowMs: policy.windowMs },
          `${service} crashed ${this.fastCrashes.length} times within ${policy.windowMs} ms, each within ${policy.stableAfterMs} ms of starting: giving up (SCOP_RESTART_MAX_FAST_CRASHES)`);
        this.o.onGiveUp({ service, code, signal, ranMs, fastCrashes: this.fastCrashes.length, windowMs: policy.windowMs });
        return;
      }
    }
    const attempt = ++this.attempt;
    this.o.metrics?.restarts.inc({ service, reason: signal ?? `exit-${code}` });
    this.o.log.warn({ service, code, signal, ranMs, attempt, delayMs }, `${service} exited unexpectedly (${signal ?? `code ${code}`}) after ${ranMs} ms; restarting ${delayMs} ms after the exit`);
    this.o.onRestart?.({ service, code, signal, ranMs, attempt, delayMs });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopping) this.spawnRun();
    }, Math.max(0, delayMs - (Date.now() - exitedAt)));
  }

  /** Stops the service for good: cancels a pending restart, SIGTERM, SIGKILL after killAfterMs. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    const c = this.current;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), this.o.killAfterMs ?? 20000);
    await this.exited;
    clearTimeout(t);
  }
}
