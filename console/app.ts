/**
 * The console's routes: history search and message pages (read from the history store), and the
 * operator writes — quarantine release/delete, ham/spam labels, dead-letter re-drive, firewall
 * block/unblock, spam model rollback, per-recipient-domain model rollback and removal — through runtime/operator/
 * (the same code as `scop quarantine`, `scop firewall`, `scop spam feedback`, `scop spam rollback [--domain]`). Every write needs a session and its CSRF token, and is audited to ops.audit
 * with its outcome.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Counter, Histogram, Registry } from 'prom-client';
import { ConfigError } from '../runtime/config.ts';
import type { KafkaClient, Producer } from '../runtime/kafka.ts';
import type { Logger } from '../runtime/log.ts';
import { counterOn, histogramOn } from '../runtime/metrics.ts';
import { publishAudit } from '../runtime/operator/audit.ts';
import { listBlocks, normalizePrefix, writeBlock } from '../runtime/operator/blocklist.ts';
import { redriveDeadLetters, type DeadLetterRef } from '../runtime/operator/dead-letters.ts';
import { sendFeedback } from '../runtime/operator/feedback.ts';
import { deleteHeld, listHeld, releaseHeld, type QuarantineTopics } from '../runtime/operator/quarantine.ts';
import { removeDomain, rollbackDomain, rollbackModel } from '../runtime/operator/spam-model.ts';
import type { RecordCodec } from '../runtime/registry.ts';
import type { SpamLoopView } from './models.ts';
import * as pages from './pages.ts';
import type { HistoryStore, SearchFilter } from './store.ts';
import type { MessageDetail } from './summary.ts';
import type { OperatorRole, Operators } from './users.ts';
import {
  cookies, HttpError, LOGIN_COOKIE, LoginLimiter, readForm, redirect, sameOrigin, sameToken, send, SESSION_COOKIE, Sessions, setCookie, SECURITY_HEADERS, type Session,
} from './web.ts';

const CSS = readFileSync(new URL('./static/console.css', import.meta.url));

export interface ConsoleTopics { quarantine: QuarantineTopics; blocklist: string; deadLetters: string; audit: string; spamModel: string; spamModelHistory: string }

export interface ConsoleDeps {
  store: HistoryStore;
  kafka: KafkaClient;
  /** Connected for the console's lifetime: audit events. */
  auditProducer: Producer;
  codec: RecordCodec;
  log: Logger;
  operators: Operators;
  spam: SpamLoopView;
  topics: ConsoleTopics;
  /** The public keys a rolled-back model's signature must verify with (SPAM_MODEL_PUBLIC_KEY_FILES). */
  trustedModelKeys: () => readonly KeyObject[];
  registry: Registry;
  scheme: 'http' | 'https';
  sessionMs: number;
  loginFailuresPerMinute: number;
  pageSize: number;
}

interface Metrics { search: Histogram<'kind'>; actions: Counter<'action' | 'outcome'>; logins: Counter<'result'> }

/** `2026-01-31`, `2026-01-31T12:00` or `2026-01-31 12:00` as UTC; undefined when empty or unreadable. */
export function parseTime(v: string | null): number | undefined {
  const s = v?.trim();
  if (!s || !/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?(Z|[+-]\d{2}:\d{2})?$/.test(s)) return undefined;
  const t = Date.parse(/[Z+-]\d{2}:?\d{2}$|Z$/.test(s.slice(10)) ? s.replace(' ', 'T') : `${s.replace(' ', 'T')}${s.length === 10 ? 'T00:00' : ''}Z`);
  return Number.isNaN(t) ? undefined : t;
}

const LABELS = new Set(['ham', 'spam']);
const arg = (v: string | null, max = 256) => (v ?? '').slice(0, max);

export function createConsoleApp(d: ConsoleDeps) {
  const sessions = new Sessions(d.store, d.sessionMs);
  const limiter = new LoginLimiter(d.loginFailuresPerMinute);
  // One message for the next page after a write, per session (memory: a restart loses at most that).
  const flashMap = new Map<string, string>();
  const flashes = {
    set: (s: Session, text: string) => { if (flashMap.size > 10000) flashMap.clear(); flashMap.set(s.id, text); },
    get: (s: Session) => flashMap.get(s.id),
    delete: (s: Session) => flashMap.delete(s.id),
  };
  const m: Metrics = {
    search: histogramOn(d.registry, { name: 'scop_console_search_seconds', help: 'History searches and message pages served by the console.', labelNames: ['kind'] as const, buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5] }),
    actions: counterOn(d.registry, { name: 'scop_console_actions_total', help: 'Operator writes from the console, by action and outcome (each audited to ops.audit).', labelNames: ['action', 'outcome'] as const }),
    logins: counterOn(d.registry, { name: 'scop_console_logins_total', help: 'Console logins by result (ok, failed, limited).', labelNames: ['result'] as const }),
  };
  for (const result of ['ok', 'failed', 'limited']) m.logins.inc({ result }, 0);
  for (const action of ['quarantine-release', 'quarantine-delete', 'spam-label', 'dead-letter-redrive', 'firewall-block', 'firewall-unblock', 'spam-model-rollback', 'spam-domain-rollback', 'spam-domain-remove']) m.actions.inc({ action, outcome: 'ok' }, 0);
  m.actions.inc({ action: 'write-denied', outcome: 'error' }, 0);

  const remote = (req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown';

  /** Runs an operator write and audits it, ok or not; the flash tells the operator what happened. */
  async function audited(req: IncomingMessage, s: Session, action: string, targets: string[], detail: string, work: () => Promise<string>): Promise<void> {
    let outcome = 'ok';
    try {
      flashes.set(s, await work());
    } catch (e) {
      outcome = `error: ${(e as Error).message}`;
      flashes.set(s, `${action} failed: ${(e as Error).message}`);
      d.log.warn({ action, targets, err: (e as Error).message, user: s.user }, 'console action failed');
    }
    m.actions.inc({ action, outcome: outcome === 'ok' ? 'ok' : 'error' });
    await publishAudit(d.auditProducer, d.codec, { actor: s.user, origin: 'console', remoteAddress: remote(req), action, targets, detail, outcome }, d.topics.audit)
      .catch((e: unknown) => d.log.error({ err: (e as Error).message, action, user: s.user }, 'could not write the audit event'));
  }

  /**
   * A spam-model write (global or per-domain): refused unless "I am sure" is ticked — no script on our
   * pages, so the confirmation is a required checkbox (the browser insists; we check again) — then
   * audited; back to the model page either way, the flash saying what happened.
   */
  async function modelWrite(req: IncomingMessage, res: ServerResponse, s: Session, form: URLSearchParams, w: { confirmTo: string; action: string; targets: string[]; detail: string }, work: () => Promise<string>): Promise<void> {
    if (form.get('confirm') !== 'yes') flashes.set(s, `tick "I am sure" to ${w.confirmTo}`);
    else await audited(req, s, w.action, w.targets, w.detail, work);
    return redirect(res, '/spam-model');
  }

  const ctxOf = (s: Session, role: OperatorRole) => {
    const flash = flashes.get(s);
    flashes.delete(s);
    return { user: s.user, csrf: s.csrf, flash, readOnly: role !== 'operator' };
  };

  async function label(s: Session, ids: string[], l: string): Promise<string> {
    const rows = await Promise.all(ids.map((id) => d.store.get(id)));
    const messageIdOf = (detail: string) => ((JSON.parse(detail) as MessageDetail).sections.mime as { headers?: { messageId?: string | null } } | undefined)?.headers?.messageId ?? null;
    await sendFeedback(d.kafka, d.codec, rows.filter((r) => r !== null).map((r) => ({ recordId: r.id, label: l, at: Date.now(), source: `console:${s.user}`, messageId: messageIdOf(r.detail) })), d.topics.quarantine.feedback);
    return `marked ${rows.filter(Boolean).length} message(s) ${l}`;
  }

  async function quarantineAct(req: IncomingMessage, s: Session, what: string, ids: string[]): Promise<void> {
    if (ids.length === 0) { flashes.set(s, 'select at least one message'); return; }
    if (LABELS.has(what)) return audited(req, s, 'spam-label', ids, `label=${what}`, () => label(s, ids, what));
    if (what !== 'release' && what !== 'delete') throw new HttpError(400, 'unknown action');
    await audited(req, s, `quarantine-${what}`, ids, '', async () => {
      const wanted = new Set(ids);
      const held = (await listHeld(d.kafka, d.codec, d.topics.quarantine)).filter((x) => wanted.has(x.record.envelope.id));
      if (held.length === 0) throw new Error('none of these messages is held any more');
      if (what === 'release') await releaseHeld(d.kafka, d.codec, d.topics.quarantine, held, s.user);
      else await deleteHeld(d.kafka, d.topics.quarantine, held);
      for (const x of held) await d.store.setHeld(x.record.envelope.id, false);
      return `${what === 'release' ? 'released' : 'deleted'} ${held.length} message(s)${held.length < ids.length ? ` (${ids.length - held.length} no longer held)` : ''}`;
    });
  }

  async function get(req: IncomingMessage, res: ServerResponse, url: URL, s: Session, role: OperatorRole): Promise<void> {
    const ctx = ctxOf(s, role);
    const p = url.pathname;
    if (p === '/') return redirect(res, '/history');
    if (p === '/history') {
      const q = url.searchParams;
      const f: SearchFilter & { fromText?: string; toText?: string } = {
        sender: arg(q.get('sender')) || undefined, recipient: arg(q.get('recipient')) || undefined, subject: arg(q.get('subject')) || undefined,
        clientIp: arg(q.get('ip')) || undefined, action: pages.ACTIONS.find((a) => a === q.get('action')), symbol: arg(q.get('symbol')) || undefined,
        from: parseTime(q.get('from')), to: parseTime(q.get('to')), fromText: arg(q.get('from'), 32) || undefined, toText: arg(q.get('to'), 32) || undefined,
        before: /^\d{1,15}$/.test(q.get('before') ?? '') ? Number(q.get('before')) : undefined, limit: d.pageSize,
      };
      const t0 = performance.now();
      const r = await d.store.search(f);
      const ms = performance.now() - t0;
      m.search.observe({ kind: 'search' }, ms / 1000);
      return send(res, 200, pages.historyPage(ctx, f, r.rows, r.more, ms));
    }
    const msg = /^\/message\/([^/]{1,200})$/.exec(p);
    if (msg) {
      const id = decodeURIComponent(msg[1]!);
      const t0 = performance.now();
      const row = await d.store.get(id);
      if (!row) return send(res, 404, pages.errorPage(ctx, 404, `no message ${id} in the history`));
      const deliveries = await d.store.deliveries(id);
      m.search.observe({ kind: 'message' }, (performance.now() - t0) / 1000);
      return send(res, 200, pages.messagePage(ctx, row, deliveries, d.spam.labelOf(id)));
    }
    if (p === '/quarantine') return send(res, 200, pages.quarantinePage(ctx, (await d.store.search({ held: true, limit: 500 })).rows));
    if (p === '/dead-letters') {
      const f = { stage: arg(url.searchParams.get('stage'), 64) || undefined, reason: arg(url.searchParams.get('reason'), 64) || undefined };
      return send(res, 200, pages.deadLettersPage(ctx, await d.store.deadLetterCounts(), await d.store.deadLetters({ ...f, limit: 200 }), f));
    }
    if (p === '/spam-model') return send(res, 200, pages.modelPage(ctx, d.spam.versions, d.spam.current, d.spam.labelCounts(), [...d.spam.domains.values()], d.spam.domainVersions));
    if (p === '/firewall') return send(res, 200, pages.firewallPage(ctx, await listBlocks(d.kafka, d.codec, d.topics.blocklist), Date.now()));
    return send(res, 404, pages.errorPage(ctx, 404, 'no such page'));
  }

  async function post(req: IncomingMessage, res: ServerResponse, url: URL, s: Session, form: URLSearchParams): Promise<void> {
    const p = url.pathname;
    const msg = /^\/message\/([^/]{1,200})\/act$/.exec(p);
    if (msg) {
      const id = decodeURIComponent(msg[1]!);
      await quarantineAct(req, s, arg(form.get('do'), 16), [id]);
      return redirect(res, `/message/${encodeURIComponent(id)}`);
    }
    if (p === '/quarantine') {
      await quarantineAct(req, s, arg(form.get('do'), 16), form.getAll('id').slice(0, 500).map((x) => x.slice(0, 200)));
      return redirect(res, '/quarantine');
    }
    if (p === '/dead-letters/redrive') {
      let refs: DeadLetterRef[] = form.getAll('ref').slice(0, 1000).flatMap((r) => /^(\d{1,6}):(\d{1,20})$/.exec(r)).filter((x) => x !== null).map((x) => ({ partition: Number(x![1]), offset: x![2]! }));
      const stage = arg(form.get('stage'), 64);
      if (refs.length === 0 && stage) refs = (await d.store.deadLetters({ stage, reason: arg(form.get('reason'), 64) || undefined, pending: true, limit: 500 })).map((x) => ({ partition: x.partition, offset: x.offset }));
      await audited(req, s, 'dead-letter-redrive', refs.map((r) => `${r.partition}:${r.offset}`), stage ? `stage=${stage}` : '', async () => {
        if (refs.length === 0) throw new Error('select at least one dead letter');
        const done = await redriveDeadLetters(d.kafka, d.codec, refs, d.topics.deadLetters);
        await d.store.markRedriven(done, s.user, Date.now());
        return `re-drove ${done.length} record(s)${done.length < refs.length ? ` (${refs.length - done.length} no longer on the topic)` : ''}`;
      });
      return redirect(res, `/dead-letters${stage ? `?stage=${encodeURIComponent(stage)}` : ''}`);
    }
    if (p === '/firewall/block' || p === '/firewall/unblock') {
      const input = arg(form.get('prefix'), 64);
      const block = p === '/firewall/block';
      let prefix = input;
      try { prefix = normalizePrefix(input); } catch (e) { flashes.set(s, (e as ConfigError).message); return redirect(res, '/firewall'); }
      const reason = arg(form.get('reason'), 200).replace(/[\r\n\u0000-\u001f]/g, ' ').trim() || 'blocked by the operator';
      const secs = arg(form.get('for'), 9).trim();
      if (block && secs && !/^[1-9]\d{0,8}$/.test(secs)) { flashes.set(s, 'for: give a number of seconds, or leave it empty'); return redirect(res, '/firewall'); }
      const expiresAt = block && secs ? Date.now() + Number(secs) * 1000 : null;
      await audited(req, s, block ? 'firewall-block' : 'firewall-unblock', [prefix], block ? `reason=${reason}${expiresAt ? ` for=${secs}s` : ''}` : '', async () => {
        await writeBlock(d.kafka, d.codec, prefix, block ? { prefix, reason, createdAt: Date.now(), expiresAt, source: `operator:${s.user}` } : null, d.topics.blocklist);
        return `${block ? 'blocked' : 'unblocked'} ${prefix}`;
      });
      return redirect(res, '/firewall');
    }
    if (p === '/spam-model/rollback') {
      const to = arg(form.get('version'), 200);
      return modelWrite(req, res, s, form, { confirmTo: `roll back to ${to}`, action: 'spam-model-rollback', targets: [to], detail: `from=${d.spam.current ?? 'none'}` }, async () => {
        if (!to) throw new Error('no version given');
        const r = await rollbackModel({ kafka: d.kafka, codec: d.codec, log: d.log, modelTopic: d.topics.spamModel, historyTopic: d.topics.spamModelHistory, trusted: d.trustedModelKeys(), to });
        return `rolled back ${r.from ?? '(none)'} → ${r.to} (${d.topics.spamModel} offset ${r.offset}); scorers and the learner switch to it`;
      });
    }
    if (p === '/spam-model/domain/rollback' || p === '/spam-model/domain/remove') {
      // The exact key suffix from the model page's table (domain:<name>); an unknown one is refused by the operator code, which reads spam.model.
      const domain = arg(form.get('domain'), 253).replace(/[\u0000-\u001f\u007f]/g, '').trim();
      if (!domain) { flashes.set(s, 'no domain given: use the forms of the per-recipient-domain table'); return redirect(res, '/spam-model'); }
      const shown = d.spam.domains.get(domain);
      if (p === '/spam-model/domain/remove') {
        return modelWrite(req, res, s, form, { confirmTo: `remove the model of ${domain}`, action: 'spam-domain-remove', targets: [domain], detail: `version=${shown?.version ?? 'unknown'}` }, async () => {
          const r = await removeDomain({ kafka: d.kafka, log: d.log, modelTopic: d.topics.spamModel, domain });
          return `removed the model of ${r.domain} (${r.version ?? 'unknown version'}; ${d.topics.spamModel} offset ${r.offset}); scorers drop it, the learner starts it again at its next label`;
        });
      }
      // Empty: the version the current one replaced (as the CLI without --to).
      const to = arg(form.get('to'), 200).trim();
      return modelWrite(req, res, s, form, { confirmTo: `roll back the model of ${domain}`, action: 'spam-domain-rollback', targets: [domain], detail: `to=${to || `previous (${shown?.previousVersion ?? 'none'})`} from=${shown?.version ?? 'unknown'}` }, async () => {
        const r = await rollbackDomain({ kafka: d.kafka, codec: d.codec, log: d.log, modelTopic: d.topics.spamModel, historyTopic: d.topics.spamModelHistory, trusted: d.trustedModelKeys(), domain, to: to || undefined });
        return `rolled back ${r.domain}: ${r.from} → ${r.to} (${d.topics.spamModel} offset ${r.offset}); scorers and the learner switch to it`;
      });
    }
    throw new HttpError(404, 'no such action');
  }

  async function login(req: IncomingMessage, res: ServerResponse, form: URLSearchParams, jar: Map<string, string>): Promise<void> {
    const addr = remote(req);
    const again = (status: number, error: string) => {
      const token = loginToken(jar);
      send(res, status, pages.loginPage({ user: null, csrf: '' }, token, error), { 'Set-Cookie': setCookie(LOGIN_COOKIE, token, 600) });
    };
    if (!sameToken(form.get('csrf'), jar.get(LOGIN_COOKIE))) return again(403, 'The login form expired; please try again.');
    const user = arg(form.get('user'), 64);
    if (limiter.blocked(addr)) {
      m.logins.inc({ result: 'limited' });
      return again(429, 'Too many failed logins from your address; wait a minute.');
    }
    const ok = await d.operators.verify(user, arg(form.get('password'), 1024));
    await publishAudit(d.auditProducer, d.codec, { actor: user || '(empty)', origin: 'console', remoteAddress: addr, action: ok ? 'login' : 'login-failed', targets: [], detail: '', outcome: ok ? 'ok' : 'error: bad credentials' }, d.topics.audit)
      .catch((e: unknown) => d.log.error({ err: (e as Error).message }, 'could not write the audit event'));
    if (!ok) {
      limiter.fail(addr);
      m.logins.inc({ result: 'failed' });
      d.log.warn({ user, remote: addr }, 'console login failed');
      return again(401, d.operators.size === 0 ? 'No operator exists yet: add one with `scop console users add <name>`.' : 'Wrong name or password.');
    }
    m.logins.inc({ result: 'ok' });
    const s = await sessions.create(user);
    d.log.info({ user, remote: addr }, 'console login');
    redirect(res, '/history', { 'Set-Cookie': [setCookie(SESSION_COOKIE, s.id, Math.floor(d.sessionMs / 1000)), setCookie(LOGIN_COOKIE, '', 0)] });
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://console.invalid');
      if (req.method === 'GET' && url.pathname === '/static/console.css') {
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'max-age=300' });
        res.end(CSS);
        return;
      }
      const jar = cookies(req);
      let s = await sessions.get(jar.get(SESSION_COOKIE));
      // The users file is looked up once per request (a stat, re-read when it changed): the role decides
      // what the request may do, and an operator removed from the file is logged out at their next request.
      const role = s && d.operators.role(s.user);
      if (s && role === undefined) { await sessions.end(s.id); s = undefined; }
      if (req.method === 'GET' && url.pathname === '/login') {
        if (s) return redirect(res, '/history');
        const token = loginToken(jar);
        return send(res, 200, pages.loginPage({ user: null, csrf: '' }, token), { 'Set-Cookie': setCookie(LOGIN_COOKIE, token, 600) });
      }
      if (req.method === 'POST') {
        // Every write, the login included: our own page's Origin, then the token.
        if (!sameOrigin(req, d.scheme)) throw new HttpError(403, 'cross-origin request refused');
        const form = await readForm(req);
        if (url.pathname === '/login') return await login(req, res, form, jar);
        if (!s) return redirect(res, '/login');
        if (!sameToken(form.get('csrf'), s.csrf)) throw new HttpError(403, 'missing or wrong CSRF token; reload the page');
        if (url.pathname === '/logout') {
          await sessions.end(s.id);
          flashes.delete(s);
          await publishAudit(d.auditProducer, d.codec, { actor: s.user, origin: 'console', remoteAddress: remote(req), action: 'logout', targets: [], detail: '', outcome: 'ok' }, d.topics.audit)
            .catch((e: unknown) => d.log.error({ err: (e as Error).message }, 'could not write the audit event'));
          return redirect(res, '/login', { 'Set-Cookie': setCookie(SESSION_COOKIE, '', 0) });
        }
        // A viewer reads everything and writes nothing.
        if (role !== 'operator') {
          m.actions.inc({ action: 'write-denied', outcome: 'error' });
          await publishAudit(d.auditProducer, d.codec, { actor: s.user, origin: 'console', remoteAddress: remote(req), action: 'write-denied', targets: [url.pathname], detail: 'role viewer', outcome: 'error: read-only operator' }, d.topics.audit)
            .catch((e: unknown) => d.log.error({ err: (e as Error).message, user: s.user }, 'could not write the audit event'));
          throw new HttpError(403, `${s.user} is a read-only operator (role viewer): it may look, not change anything. Whoever keeps the users file can change that: scop console users role ${s.user} operator`);
        }
        return await post(req, res, url, s, form);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method not allowed');
      if (!s || !role) return redirect(res, '/login');
      return await get(req, res, url, s, role);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500) d.log.error({ err: e, url: req.url }, 'console request failed');
      if (!res.headersSent) send(res, status, pages.errorPage({ user: null, csrf: '' }, status, status === 500 ? 'internal error (see the console log)' : (e as Error).message));
      else res.end();
    }
  };
}

/**
 * The login form's CSRF token (double submit: cookie + form field). An existing one is kept:
 * browsers may load the login page twice (a redirect, a reload, two tabs), and a new token each
 * time would invalidate the form already shown. Only we can set a __Host- cookie (HTTPS, no Domain).
 */
function loginToken(jar: Map<string, string>): string {
  const have = jar.get(LOGIN_COOKIE);
  return have && /^[A-Za-z0-9_-]{43}$/.test(have) ? have : randomBytes(32).toString('base64url');
}
