/**
 * Kafka requests by type, from the local broker's Prometheus JMX exporter
 * (`kafka_network_requestmetrics_requests_total{request,version}`, infra/kafka/jmx-exporter): read
 * before and after a phase, the difference ÷ messages says how many requests of each kind one
 * message cost the broker — its CPU goes mostly to requests, not bytes.
 */

/** request type → count, summed over API versions, from a Prometheus text exposition. */
export function parseRequestCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('kafka_network_requestmetrics_requests_total{')) continue;
    const request = /[{,]request="([^"]*)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!request || !Number.isFinite(value)) continue;
    counts.set(request, (counts.get(request) ?? 0) + value);
  }
  return counts;
}

/** Scrapes the exporter at `url` (…/metrics); a broker without one gives an empty map. */
export async function requestCounts(url: string): Promise<Map<string, number>> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
    return res.ok ? parseRequestCounts(await res.text()) : new Map();
  } catch {
    return new Map();
  }
}

/** Kafka counts these a second time under their own names: they are kinds of Fetch (consumers', replicas'). */
const SUBCOUNTS = new Set(['FetchConsumer', 'FetchFollower']);

/** "Produce 1.02, Fetch 0.80, …" per message, largest first (types under 0.01 per message left out), and the total. */
export function formatRequests(before: Map<string, number>, after: Map<string, number>, messages: number): { total: number; line: string } {
  const per: [string, number][] = [...after].filter(([k]) => !SUBCOUNTS.has(k)).map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / messages] as [string, number]).filter(([, v]) => v > 0);
  per.sort((a, b) => b[1] - a[1]);
  const total = per.reduce((s, [, v]) => s + v, 0);
  return { total, line: per.filter(([, v]) => v >= 0.01).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') };
}
