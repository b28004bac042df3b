/**
 * The few Prometheus HTTP API calls scop's tests and renderer need: range queries (what a Grafana
 * panel runs), with Grafana's variables substituted the way Grafana would.
 */
export interface Series { labels: Record<string, string>; points: [number, number][] }
export type QueryResult = { ok: true; series: Series[] } | { ok: false; error: string };

/** `$__rate_interval` → a window; other Grafana variables are not used by scop's dashboards. */
export const withGrafanaVariables = (expr: string, rateInterval: string) => expr.replaceAll('$__rate_interval', rateInterval);

export async function queryRange(prometheus: string, expr: string, o: { start: number; end: number; stepS: number; rateInterval: string }): Promise<QueryResult> {
  const params = new URLSearchParams({ query: withGrafanaVariables(expr, o.rateInterval), start: String(o.start / 1000), end: String(o.end / 1000), step: String(o.stepS) });
  const res = await fetch(`${prometheus}/api/v1/query_range`, { method: 'POST', body: params });
  const body = await res.json() as { status: string; error?: string; data?: { result: { metric: Record<string, string>; values: [number, string][] }[] } };
  if (body.status !== 'success') return { ok: false, error: body.error ?? `HTTP ${res.status}` };
  return { ok: true, series: (body.data?.result ?? []).map((r) => ({ labels: r.metric, points: r.values.map(([t, v]) => [t * 1000, Number(v)] as [number, number]) })) };
}

/** Grafana's legend: `{{label}}` replaced by the series' label value. */
export const legendOf = (template: string, labels: Record<string, string>) => template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, k: string) => labels[k] ?? '');
