/**
 * CPU time of named steps, summed over the counted rounds of a benchmark: round 0 warms the JIT
 * and is dropped once (`restart`), and the figures are the sums divided by messages × counted
 * rounds. The clock is injectable so the arithmetic is tested without timing anything.
 */

/** Process CPU (user + system) in microseconds. */
export const processCpuMicros = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

export class StepCpu {
  private readonly sums = new Map<string, number>();

  constructor(private readonly clock: () => number = processCpuMicros) {}

  /** Runs `f`, adding the CPU it took (awaited, so with the event-loop turns it needed) to `key`. */
  async time<T>(key: string, f: () => T | Promise<T>): Promise<T> {
    const c = this.clock();
    const r = await f();
    this.sums.set(key, (this.sums.get(key) ?? 0) + this.clock() - c);
    return r;
  }

  /** Forgets what was measured (after the warm-up round); the steps keep their order. */
  restart(): void {
    for (const k of this.sums.keys()) this.sums.set(k, 0);
  }

  /** Milliseconds per message of each step over `messages` × `rounds` counted. */
  perMessageMs(messages: number, rounds: number): Map<string, number> {
    const n = messages * rounds;
    return new Map([...this.sums].map(([k, us]) => [k, us / n / 1000]));
  }
}
