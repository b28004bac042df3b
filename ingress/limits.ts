/**
 * Abuse limits, counted across all listeners of the process: concurrent sessions, concurrent
 * connections per client address, and messages (MAIL FROM) per client address per minute.
 * Written by hand: three counters, no library fits better.
 */
export interface LimitSettings {
  maxSessions: number;
  maxConnectionsPerIp: number;
  maxMessagesPerIpPerMinute: number;
}

export class Limits {
  private sessions = 0;
  private perIp = new Map<string, number>();
  private recent = new Map<string, number[]>();

  constructor(private readonly s: LimitSettings) {}

  get activeSessions(): number {
    return this.sessions;
  }

  /** Takes a session slot; returns why not when a limit is reached. */
  openSession(ip: string): 'sessions' | 'connections-per-ip' | undefined {
    if (this.sessions >= this.s.maxSessions) return 'sessions';
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.s.maxConnectionsPerIp) return 'connections-per-ip';
    this.sessions++;
    this.perIp.set(ip, n + 1);
    return undefined;
  }

  closeSession(ip: string): void {
    this.sessions = Math.max(0, this.sessions - 1);
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  /** Counts one message attempt; false when the address already sent its share this minute. */
  takeMessage(ip: string, now = Date.now()): boolean {
    const since = now - 60_000;
    const times = (this.recent.get(ip) ?? []).filter((t) => t > since);
    if (times.length >= this.s.maxMessagesPerIpPerMinute) {
      this.recent.set(ip, times);
      return false;
    }
    times.push(now);
    this.recent.set(ip, times);
    if (this.recent.size > 10_000) this.prune(now);
    return true;
  }

  private prune(now: number): void {
    const since = now - 60_000;
    for (const [ip, times] of this.recent) if (!times.some((t) => t > since)) this.recent.delete(ip);
  }
}
