/**
 * The console's pages: server-rendered HTML, every value through `h` (escape-html). No script, no
 * inline style (the CSP forbids both); mail content is only ever shown as escaped text.
 */
import escapeHtml from 'escape-html';
import { clientHostnameText } from '../runtime/client-hostname.ts';
import type { Block } from '../schemas/types.ts';
import { DOMAIN_VERSIONS_KEPT, type DomainModelView, type DomainVersion, type ModelVersion } from './models.ts';
import type { DeadLetterRow, DeliveryRow, MessageRow, MessageSummary, SearchFilter } from './store.ts';
import type { MessageDetail } from './summary.ts';

export const h = (v: unknown): string => escapeHtml(v === null || v === undefined ? '' : String(v));
const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
const link = (id: string) => `/message/${encodeURIComponent(id)}`;

/** readOnly: the operator's role is viewer — pages show no write form (the server refuses the writes anyway). */
export interface PageContext { user: string | null; csrf: string; flash?: string; error?: string; readOnly?: boolean }

/** A write form, or nothing for a read-only operator. */
const writable = (ctx: PageContext, form: string) => (ctx.readOnly ? '' : form);

const NAV = [['/history', 'History'], ['/quarantine', 'Quarantine'], ['/dead-letters', 'Dead letters'], ['/spam-model', 'Spam model'], ['/firewall', 'Firewall']] as const;

export function layout(title: string, ctx: PageContext, body: string, active = ''): string {
  const nav = ctx.user ? `<nav>${NAV.map(([href, label]) => `<a href="${href}"${href === active ? ' class="active"' : ''}>${label}</a>`).join('')}
    <form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="${h(ctx.csrf)}"><span>${h(ctx.user)}${ctx.readOnly ? ' (read-only)' : ''}</span> <button>Log out</button></form></nav>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(title)} · scop console</title><link rel="stylesheet" href="/static/console.css"></head>
<body><header><span class="brand">scop</span>${nav}</header><main>
${ctx.flash ? `<p class="flash" role="status">${h(ctx.flash)}</p>` : ''}${ctx.error ? `<p class="error" role="alert">${h(ctx.error)}</p>` : ''}
<h1>${h(title)}</h1>${body}</main></body></html>`;
}

export const csrfField = (ctx: PageContext) => `<input type="hidden" name="csrf" value="${h(ctx.csrf)}">`;

export function loginPage(ctx: PageContext, loginToken: string, error?: string): string {
  return layout('Log in', { ...ctx, error }, `<form method="post" action="/login" class="login">
<input type="hidden" name="csrf" value="${h(loginToken)}">
<label>Operator <input name="user" autocomplete="username" required maxlength="64" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
<button>Log in</button></form>`);
}

const actionBadge = (a: string, held = false) => `<span class="badge ${h(a)}">${h(a)}</span>${held ? ' <span class="badge held">held</span>' : ''}`;

function resultsTable(rows: MessageSummary[], ctx: PageContext, selectable: boolean): string {
  if (rows.length === 0) return '<p class="empty">No message matches.</p>';
  return `<table class="results"><thead><tr>${selectable ? '<th></th>' : ''}<th>Received</th><th>From</th><th>To</th><th>Subject</th><th>Client</th><th>Action</th><th>Spam</th><th>Reason</th></tr></thead><tbody>
${rows.map((r) => `<tr>${selectable ? `<td><input type="checkbox" name="id" value="${h(r.id)}" aria-label="select ${h(r.subject)}"></td>` : ''}<td class="nowrap">${h(iso(r.receivedAt))}</td><td>${h(r.mailFrom || '<>')}</td><td>${h(r.rcptTo.join(', '))}</td>
<td><a href="${link(r.id)}">${h(r.subject || '(no subject)')}</a></td><td>${h(r.clientIp)}</td><td>${actionBadge(r.action, r.held)}</td><td>${r.spamProbability === null ? '' : h(r.spamProbability.toFixed(3))}</td><td class="reason">${h(r.reasons[0] ?? '')}</td></tr>`).join('\n')}
</tbody></table>`;
}

export const ACTIONS = ['deliver', 'add_header', 'junk', 'quarantine', 'reject', 'relay'] as const;

export function historyPage(ctx: PageContext, f: SearchFilter & { fromText?: string; toText?: string }, rows: MessageSummary[], more: boolean, ms: number): string {
  const field = (name: string, label: string, value: string | undefined, placeholder = '') => `<label>${label} <input name="${name}" value="${h(value ?? '')}" placeholder="${h(placeholder)}" maxlength="256"></label>`;
  const last = rows.at(-1);
  const nextParams = new URLSearchParams(Object.entries({ sender: f.sender, recipient: f.recipient, subject: f.subject, ip: f.clientIp, from: f.fromText, to: f.toText, action: f.action, symbol: f.symbol }).filter(([, v]) => v) as [string, string][]);
  if (last) nextParams.set('before', String(last.receivedAt));
  return layout('History', ctx, `<form method="get" action="/history" class="search">
${field('sender', 'Sender', f.sender, 'alice@example.com or example.com')}${field('recipient', 'Recipient', f.recipient, 'bob@example.net or example.net')}
${field('subject', 'Subject / From words', f.subject)}${field('ip', 'Client IP', f.clientIp, '203.0.113.7 or 203.0.113.')}
${field('from', 'From (UTC)', f.fromText, '2026-01-31 or 2026-01-31T12:00')}${field('to', 'To (UTC)', f.toText)}
<label>Action <select name="action"><option value="">any</option>${ACTIONS.map((a) => `<option${f.action === a ? ' selected' : ''}>${a}</option>`).join('')}</select></label>
${field('symbol', 'Symbol', f.symbol, 'words of a reason, e.g. dmarc')}
<button>Search</button></form>
<p class="meta">${rows.length} message(s) in ${ms.toFixed(0)} ms. Symbol matches the words of the decision's reasons, which name every symbol that added to the score.</p>
${resultsTable(rows, ctx, false)}
${more ? `<p><a href="/history?${h(nextParams.toString())}">Older messages →</a></p>` : ''}`, '/history');
}

function dl(pairs: [string, unknown][]): string {
  return `<dl>${pairs.filter(([, v]) => v !== undefined).map(([k, v]) => `<dt>${h(k)}</dt><dd>${h(v)}</dd>`).join('')}</dl>`;
}

export function messagePage(ctx: PageContext, m: MessageRow & { held: boolean }, deliveries: DeliveryRow[], label: string | undefined): string {
  const d = JSON.parse(m.detail) as MessageDetail;
  const e = d.envelope;
  const actions = writable(ctx, `<form method="post" action="${link(m.id)}/act" class="actions">${csrfField(ctx)}
${m.held ? '<button name="do" value="release">Release (deliver)</button> <button name="do" value="delete">Delete</button> ' : ''}
<button name="do" value="ham">Mark ham</button> <button name="do" value="spam">Mark spam</button></form>`);
  const symbols = d.symbols?.length
    ? `<table><thead><tr><th>Symbol</th><th>Weight</th><th>Stage</th><th>Score</th><th>Options</th></tr></thead><tbody>${d.symbols.map((s) => `<tr><td>${h(s.symbol)}</td><td>${h(s.weight ?? '')}</td><td>${h(s.stage)}</td><td>${h(s.score ?? '')}</td><td>${h(s.options.join(', '))}</td></tr>`).join('')}</tbody></table>`
    : '<p class="meta">This record carries no typed symbols (decided before the stages emitted them). The reasons above are what the decision used.</p>';
  const dsn = (s: DeliveryRow) => (s.status === 'bounced' || s.status === 'dead') && m.direction === 'outbound' && m.mailFrom ? `DSN to ${m.mailFrom}` : '';
  const deliveryTable = deliveries.length
    ? `<table class="deliveries"><thead><tr><th>Recipient</th><th>Outcome</th><th>Attempts</th><th>Next hop</th><th>Reply</th><th>At</th><th>DSN</th></tr></thead><tbody>${deliveries.map((s) => `<tr><td>${h(s.recipient)}</td><td><span class="badge ${h(s.status)}">${h(s.status)}</span></td><td>${h(s.attempts)}</td><td>${h(s.nextHop)}</td><td>${h(s.reply ?? '')}</td><td class="nowrap">${h(iso(s.at))}</td><td>${h(dsn(s))}</td></tr>`).join('')}</tbody></table>`
    : `<p class="meta">${m.held ? 'Held: not delivered.' : m.action === 'reject' ? 'Refused after acceptance: not delivered.' : 'No delivery outcome recorded yet (in progress, retrying, or older than the delivery log).'}</p>`;
  const preview = d.preview.text !== null
    ? `<pre class="preview">${h(d.preview.text)}</pre>${d.preview.truncated ? '<p class="meta">Preview truncated.</p>' : ''}`
    : `<p class="meta">${d.preview.htmlOnly ? 'This message has only an HTML body. The console never renders mail HTML; the MIME section lists its parts.' : 'No text body.'}</p>`;
  const sections = Object.entries(d.sections).map(([name, v]) => `<details${name === 'decision' ? ' open' : ''}><summary>${h(name)}</summary><pre>${h(JSON.stringify(v, null, 2))}</pre></details>`).join('\n');
  return layout(m.subject || '(no subject)', ctx, `
<section id="envelope"><h2>Envelope</h2>${dl([
    ['Record id', m.id], ['Received', `${iso(m.receivedAt)} on ${e.listener} (${e.ingressHost})`], ['Direction', m.direction], ['Client', `${e.clientIp} (${clientHostnameText(e)}) HELO ${e.helo}`],
    ['TLS', e.tls ? `${e.tls.protocol} ${e.tls.cipher}` : 'none'], ['Authenticated user', e.authUser ?? '—'], ['MAIL FROM', `<${e.mailFrom}>`], ['RCPT TO', e.rcptTo.map((r) => `<${r}>`).join(', ')],
    ['From header', m.fromHeader], ['Size', `${e.size} bytes`], ['SHA-256', e.messageSha256 ?? '—'],
  ])}</section>
<section id="decision"><h2>Decision ${actionBadge(m.action, m.held)}</h2>
${m.reasons.length ? `<ul class="reasons">${m.reasons.map((r) => `<li>${h(r)}</li>`).join('')}</ul>` : '<p class="meta">No reason: delivered.</p>'}
${dl([['Spam probability', m.spamProbability === null ? '—' : m.spamProbability.toFixed(4)], ['Label on spam.feedback', label ?? 'none']])}
<h3>Symbols</h3>${symbols}${actions}</section>
<section id="delivery"><h2>Delivery</h2>${deliveryTable}</section>
<section id="stages"><h2>Stages</h2>${sections || '<p class="meta">No stage section.</p>'}</section>
<section id="preview"><h2>Text preview</h2>${preview}</section>
<section id="headers"><h2>Headers</h2><pre>${h(d.headers)}</pre></section>`, '/history');
}

export function quarantinePage(ctx: PageContext, rows: MessageSummary[]): string {
  return layout('Quarantine', ctx, `<p class="meta">${rows.length} held message(s): quarantined or refused after acceptance. Release delivers to every recipient; marks go to spam.feedback.</p>
${ctx.readOnly ? resultsTable(rows, ctx, false) : `<form method="post" action="/quarantine" class="bulk">${csrfField(ctx)}
<div class="toolbar"><button name="do" value="release">Release selected</button> <button name="do" value="delete">Delete selected</button> <button name="do" value="ham">Mark ham</button> <button name="do" value="spam">Mark spam</button></div>
${resultsTable(rows, ctx, true)}</form>`}`, '/quarantine');
}

export function deadLettersPage(ctx: PageContext, counts: { stage: string; reason: string; pending: number; total: number }[], rows: DeadLetterRow[], f: { stage?: string; reason?: string }): string {
  const countRows = counts.map((c) => `<tr><td><a href="/dead-letters?stage=${encodeURIComponent(c.stage)}&amp;reason=${encodeURIComponent(c.reason)}">${h(c.stage)}</a></td><td>${h(c.reason)}</td><td>${h(c.pending)}</td><td>${h(c.total)}</td>
<td>${writable(ctx, `<form method="post" action="/dead-letters/redrive">${csrfField(ctx)}<input type="hidden" name="stage" value="${h(c.stage)}"><input type="hidden" name="reason" value="${h(c.reason)}"><button${c.pending ? '' : ' disabled'}>Re-drive all pending</button></form>`)}</td></tr>`).join('');
  const list = rows.map((d) => `<tr><td>${d.redrivenAt === null && !ctx.readOnly ? `<input type="checkbox" name="ref" value="${h(`${d.partition}:${d.offset}`)}" aria-label="select dead letter ${h(d.offset)}">` : ''}</td><td class="nowrap">${h(iso(d.failedAt))}</td><td>${h(d.stage)}</td><td>${h(d.reason)}</td>
<td>${d.recordId ? `<a href="${link(d.recordId)}">${h(d.recordId)}</a>` : '—'}</td><td>${h(`${d.sourceTopic}/${d.sourcePartition}@${d.sourceOffset}`)}</td><td class="reason">${h(d.error)}</td><td>${d.redrivenAt === null ? 'pending' : h(`re-driven ${iso(d.redrivenAt)} by ${d.redrivenBy}`)}</td></tr>`).join('\n');
  return layout('Dead letters', ctx, `<table class="counts"><thead><tr><th>Stage</th><th>Reason</th><th>Pending</th><th>Total</th><th></th></tr></thead><tbody>${countRows || '<tr><td colspan="5">No dead letter.</td></tr>'}</tbody></table>
<h2>${f.stage ? `${h(f.stage)} ${h(f.reason ?? '')}` : 'Latest'}</h2>
${writable(ctx, `<form method="post" action="/dead-letters/redrive">${csrfField(ctx)}<div class="toolbar"><button>Re-drive selected</button></div>`)}
<table class="results"><thead><tr><th></th><th>Failed</th><th>Stage</th><th>Reason</th><th>Record</th><th>Source</th><th>Error</th><th>State</th></tr></thead><tbody>${list}</tbody></table>${writable(ctx, '</form>')}
<p class="meta">Re-drive writes each record's original bytes back to the topic it came from; the stage processes it again (after a fix).</p>`, '/dead-letters');
}

export function modelPage(ctx: PageContext, versions: ModelVersion[], current: string | null, labels: Record<string, number>, domains: readonly DomainModelView[] = [], domainVersions: ReadonlyMap<string, readonly DomainVersion[]> = new Map()): string {
  // Per domain: roll back (to its previous version, or one of its versions on spam.model.history) or remove; both need the "I am sure" box.
  const domainForms = (d: DomainModelView) => {
    const older = (domainVersions.get(d.domain) ?? []).filter((v) => v.version !== d.version);
    const options = [`<option value="">its previous version (${h(d.previousVersion ?? 'none recorded')})</option>`,
      ...older.map((v) => `<option value="${h(v.version)}">${h(v.version)} (published ${v.publishedAt ? h(iso(v.publishedAt)) : '?'}${v.nham === null ? '' : h(`, ${v.nham} ham / ${v.nspam} spam`)})</option>`)].join('');
    return writable(ctx, `<form method="post" action="/spam-model/domain/rollback">${csrfField(ctx)}<input type="hidden" name="domain" value="${h(d.domain)}">
<label>to <select name="to">${options}</select></label> <label><input type="checkbox" name="confirm" value="yes" required> I am sure</label> <button>Roll back</button></form>
<form method="post" action="/spam-model/domain/remove">${csrfField(ctx)}<input type="hidden" name="domain" value="${h(d.domain)}">
<label><input type="checkbox" name="confirm" value="yes" required> I am sure</label> <button>Remove</button></form>`);
  };
  const domainRows = [...domains].sort((a, b) => (a.domain < b.domain ? -1 : 1)).map((d) => `<tr><td>${h(d.domain)}</td><td>${h(d.version)}${d.inUse ? ' <span class="badge deliver">blended in</span>' : d.inUse === false ? ' (too few labels)' : ''}</td><td>${h(d.nham)}</td><td>${h(d.nspam)}</td><td>${h(d.tokens)}</td><td>${h(d.base ?? '')}</td><td class="nowrap">${d.lastLabelAt ? h(iso(d.lastLabelAt)) : ''}</td><td class="nowrap">${d.publishedAt ? h(iso(d.publishedAt)) : ''}</td><td>${h(d.previousVersion ?? '')}</td><td>${domainForms(d)}</td></tr>`).join('');
  const domainTable = domains.length === 0 ? '' : `<h2>Per-recipient-domain models</h2>
<table class="results"><thead><tr><th>Domain</th><th>Version</th><th>Ham</th><th>Spam</th><th>Weights</th><th>Learnt on line</th><th>Last label</th><th>Published</th><th>Previous version</th><th></th></tr></thead><tbody>${domainRows}</tbody></table>
<p class="meta">A domain's model is a correction on top of the global model, applied only on top of the global model line it was learnt on. <b>Roll back</b> republishes the chosen version's signed bytes from spam.model.history (checked against the trusted public keys first; refused when it was learnt on another line than the global model in use); the list offers the ${DOMAIN_VERSIONS_KEPT} newest. <b>Remove</b> deletes the domain's model: scorers use the global model alone, and the learner starts the domain again at its next label. Same as <code>scop spam rollback --domain &lt;name&gt; [--to &lt;version&gt;]</code> and <code>--remove</code>; audited to ops.audit.</p>`;
  const rollback = (v: ModelVersion) => writable(ctx, `<form method="post" action="/spam-model/rollback">${csrfField(ctx)}<input type="hidden" name="version" value="${h(v.version)}">
<label><input type="checkbox" name="confirm" value="yes" required> I am sure</label> <button>Roll back to this version</button></form>`);
  const rows = versions.map((v) => `<tr><td>${h(v.version)}${v.version === current ? ' <span class="badge deliver">in use</span>' : ''}</td><td>${h(v.name)}</td><td class="nowrap">${h(iso(v.trainedAt))}</td><td class="nowrap">${v.publishedAt ? h(iso(v.publishedAt)) : ''}</td><td>${h(v.nham)}</td><td>${h(v.nspam)}</td><td>${h(v.tokens)}</td><td>${h(v.tokenizerVersion)}</td><td>${h(v.source)}</td><td>${h(v.offset)}</td>
<td>${v.version === current ? '' : rollback(v)}</td></tr>`).join('');
  return layout('Spam model', ctx, `<table class="results"><thead><tr><th>Version</th><th>Model</th><th>Trained</th><th>Published</th><th>Ham</th><th>Spam</th><th>Tokens</th><th>Tokenizer</th><th>Source</th><th>Seen at</th><th></th></tr></thead><tbody>${rows || '<tr><td colspan="11">No model on spam.model.</td></tr>'}</tbody></table>
<h2>Labels on spam.feedback</h2>${dl(Object.entries(labels).length ? Object.entries(labels) : [['labels', 'none yet']])}
<p class="meta">Every published version is kept on spam.model.history (30 days); spam.model holds the one in use. A rollback republishes the chosen version's signed bytes to spam.model (checked against the trusted public keys first): scorers switch to it, and the learner continues on top of it. Same as <code>scop spam rollback --to &lt;version&gt;</code>; audited to ops.audit.</p>${domainTable}`, '/spam-model');
}

export function firewallPage(ctx: PageContext, blocks: Block[], now: number): string {
  const rows = blocks.map((b) => `<tr><td>${h(b.prefix)}</td><td>${h(b.reason)}</td><td>${h(b.source)}</td><td class="nowrap">${h(iso(b.createdAt))}</td><td class="nowrap">${b.expiresAt === null ? 'until lifted' : h(`${iso(b.expiresAt)}${b.expiresAt <= now ? ' (expired)' : ''}`)}</td>
<td>${writable(ctx, `<form method="post" action="/firewall/unblock">${csrfField(ctx)}<input type="hidden" name="prefix" value="${h(b.prefix)}"><button>Unblock</button></form>`)}</td></tr>`).join('');
  return layout('Firewall', ctx, `${writable(ctx, `<form method="post" action="/firewall/block" class="search">${csrfField(ctx)}
<label>Prefix <input name="prefix" required maxlength="64" placeholder="203.0.113.0/24 or 203.0.113.7"></label>
<label>Reason <input name="reason" maxlength="200" value="blocked by the operator"></label>
<label>For (seconds) <input name="for" inputmode="numeric" maxlength="9" placeholder="empty: until unblocked"></label><button>Block</button></form>`)}
<table class="results"><thead><tr><th>Prefix</th><th>Reason</th><th>By</th><th>Since</th><th>Until</th><th></th></tr></thead><tbody>${rows || '<tr><td colspan="6">No block.</td></tr>'}</tbody></table>`, '/firewall');
}

export const errorPage = (ctx: PageContext, status: number, message: string) => layout(`Error ${status}`, ctx, `<p>${h(message)}</p>`);
