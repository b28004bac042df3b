/**
 * Alert → Matrix message content: a plain `body` and an HTML `formatted_body` in which every
 * alert-supplied string is escaped, plus machine-readable fields (`dev.scop.*`) that let the
 * notifier recognise its own posts when it reads the room back.
 */
import escapeHtml from 'escape-html';
import type { Alert, AlertSeverity } from '../../schemas/types.ts';

const ICON: Record<AlertSeverity, string> = { info: 'ℹ️', warning: '⚠️', critical: '🚨' };

/** Content key holding the ids of the alerts a message covers. */
export const ALERT_IDS_KEY = 'dev.scop.alert_ids';

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} minute${m === 1 ? '' : 's'}`;
  const h = Math.round(m / 60);
  return `${h} hour${h === 1 ? '' : 's'}`;
}

/** Matrix events are limited to 64 KiB: cap what an alert may contribute. */
const clip = (s: string, n = 1000) => (s.length > n ? `${s.slice(0, n)}…` : s);

const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

function content(body: string, html: string, alertIds: string[], extra: Record<string, unknown>): Record<string, unknown> {
  return { msgtype: 'm.notice', body, format: 'org.matrix.custom.html', formatted_body: html, [ALERT_IDS_KEY]: alertIds, ...extra };
}

/** One alert on its own. */
export function alertMessage(a: Alert): Record<string, unknown> {
  const sev = a.severity.toUpperCase();
  const facts: [string, string][] = [];
  if (a.subject) facts.push(['subject', clip(a.subject, 200)]);
  if (a.count > 1) facts.push(['count', String(a.count)]);
  for (const [k, v] of Object.entries(a.details).slice(0, 20)) facts.push([clip(k, 100), clip(v)]);
  if (a.recordId) facts.push(['record', a.recordId]);
  facts.push(['at', iso(a.createdAt)]);
  const summary = clip(a.summary);
  const body = [`${ICON[a.severity]} [${sev}] ${a.kind} (${a.source}): ${summary}`, ...facts.map(([k, v]) => `  ${k}: ${v}`)].join('\n');
  const html =
    `<p>${ICON[a.severity]} <strong>${sev}</strong> <code>${escapeHtml(a.kind)}</code> (${escapeHtml(a.source)}): ${escapeHtml(summary)}</p>` +
    `<ul>${facts.map(([k, v]) => `<li><b>${escapeHtml(k)}</b>: ${escapeHtml(v)}</li>`).join('')}</ul>`;
  return content(body, html, [a.id], { 'dev.scop.alert': { kind: a.kind, severity: a.severity, subject: a.subject } });
}

/**
 * A burst of alerts of one kind and subject, e.g. "⚠️ [WARNING] block: 37 more for 203.0.113.0/24
 * in the last 5 minutes", with the most frequent summaries. `more`: the first alert of the burst
 * was posted on its own already.
 */
export function digestMessage(alerts: Alert[], windowMs: number, more: boolean): Record<string, unknown> {
  const first = alerts[0]!;
  const severity = alerts.reduce<AlertSeverity>((s, a) => (a.severity === 'critical' || (a.severity === 'warning' && s === 'info') ? a.severity : s), 'info');
  const total = alerts.reduce((n, a) => n + a.count, 0);
  const from = Math.min(...alerts.map((a) => a.createdAt));
  const to = Math.max(...alerts.map((a) => a.createdAt));
  const bySummary = new Map<string, number>();
  for (const a of alerts) bySummary.set(clip(a.summary, 300), (bySummary.get(clip(a.summary, 300)) ?? 0) + a.count);
  const top = [...bySummary].sort((x, y) => y[1] - x[1]).slice(0, 5);
  const others = bySummary.size - top.length;
  const sev = severity.toUpperCase();
  const headline = (esc: (s: string) => string) =>
    `${total}${more ? ' more' : ''} ${esc(first.kind)} alert${total === 1 ? '' : 's'} for ${esc(first.subject ?? '?')} in the last ${formatDuration(windowMs)}`;
  const span = `${iso(from)} – ${iso(to)}`;
  const body = [
    `${ICON[severity]} [${sev}] ${headline((s) => s)} (${span})`,
    ...top.map(([s, n]) => `  ${n}× ${s}`),
    ...(others > 0 ? [`  … and ${others} other message${others === 1 ? '' : 's'}`] : []),
  ].join('\n');
  const html =
    `<p>${ICON[severity]} <strong>${sev}</strong> ${headline(escapeHtml)} <em>(${span})</em></p>` +
    `<ul>${top.map(([s, n]) => `<li>${n}× ${escapeHtml(s)}</li>`).join('')}${others > 0 ? `<li>… and ${others} other message${others === 1 ? '' : 's'}</li>` : ''}</ul>`;
  return content(body, html, alerts.map((a) => a.id), { 'dev.scop.digest': { kind: first.kind, subject: first.subject, count: total, alerts: alerts.length, from, to } });
}
