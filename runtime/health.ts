/**
 * What a process's /healthz reports: every consumer (stage, sink, follower) registers a probe
 * here; the process is ready only when every probe is. cli/run-service.ts serves it.
 */

export interface ProbeResult {
  ok: boolean;
  /** Why not, in a few words (e.g. "consumer not running", "no progress for 64 s with 120 records waiting"). */
  reason?: string;
  [detail: string]: unknown;
}

export class HealthRegistry {
  private readonly probes = new Map<string, () => ProbeResult>();

  /** Adds a probe under a unique name; returns its removal. */
  register(name: string, probe: () => ProbeResult): () => void {
    let key = name;
    for (let i = 2; this.probes.has(key); i++) key = `${name}#${i}`;
    this.probes.set(key, probe);
    return () => { if (this.probes.get(key) === probe) this.probes.delete(key); };
  }

  check(): { ok: boolean; checks: Record<string, ProbeResult> } {
    const checks: Record<string, ProbeResult> = {};
    let ok = true;
    for (const [name, probe] of this.probes) {
      let r: ProbeResult;
      try {
        r = probe();
      } catch (e) {
        r = { ok: false, reason: `probe failed: ${(e as Error).message}` };
      }
      checks[name] = r;
      ok &&= r.ok;
    }
    return { ok, checks };
  }
}
