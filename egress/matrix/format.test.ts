/** The notifier's pure parts: configuration, routing, message rendering and transaction ids. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alertId, newAlert } from '../../runtime/alerts.ts';
import { ConfigError } from '../../runtime/config.ts';
import { loadMatrixConfig, parseDuration, roomsFor } from './config.ts';
import { ALERT_IDS_KEY, alertMessage, digestMessage } from './format.ts';
import { digestTxnId, singleTxnId } from './notifier.ts';

const base = { MATRIX_HOMESERVER_URL: 'http://127.0.0.1:8008', MATRIX_ALLOW_INSECURE: 'true', MATRIX_ACCESS_TOKEN: 'tok', MATRIX_ROOM: '!ops:scop.test' };

describe('matrix notifier config', () => {
  it('is disabled without a homeserver, and names the missing key otherwise', () => {
    assert.equal(loadMatrixConfig({}), null);
    assert.throws(() => loadMatrixConfig({ MATRIX_HOMESERVER_URL: 'https://x:1', MATRIX_ROOM: '!a:b' }), (e: unknown) => e instanceof ConfigError && e.key === 'MATRIX_ACCESS_TOKEN');
    assert.throws(() => loadMatrixConfig({ MATRIX_HOMESERVER_URL: 'https://x:1', MATRIX_ACCESS_TOKEN: 't' }), (e: unknown) => e instanceof ConfigError && e.key === 'MATRIX_ROOM');
    assert.throws(() => loadMatrixConfig({ ...base, MATRIX_HOMESERVER_URL: 'not a url' }), (e: unknown) => e instanceof ConfigError && e.key === 'MATRIX_HOMESERVER_URL');
    // The token must not travel in clear: http:// only with MATRIX_ALLOW_INSECURE=true, named in the error.
    assert.throws(() => loadMatrixConfig({ ...base, MATRIX_ALLOW_INSECURE: undefined }), (e: unknown) => e instanceof ConfigError && e.key === 'MATRIX_HOMESERVER_URL' && /unencrypted/.test(e.message) && /MATRIX_ALLOW_INSECURE=true/.test(e.message));
    assert.throws(() => loadMatrixConfig({ ...base, MATRIX_HOMESERVER_URL: 'ftp://x', MATRIX_ALLOW_INSECURE: 'true' }), (e: unknown) => e instanceof ConfigError && e.key === 'MATRIX_HOMESERVER_URL');
    assert.equal(loadMatrixConfig({ ...base, MATRIX_HOMESERVER_URL: 'https://matrix.example.org', MATRIX_ALLOW_INSECURE: undefined })!.homeserverUrl, 'https://matrix.example.org');
    assert.throws(() => loadMatrixConfig({ ...base, MATRIX_ROUTES: '[{"room":"ops"}]' }), (e: unknown) => e instanceof ConfigError && e.key === 'MATRIX_ROUTES' && /room id/.test(e.message));
    assert.throws(() => loadMatrixConfig({ ...base, MATRIX_ROUTES: '{' }), (e: unknown) => e instanceof ConfigError && /not JSON/.test(e.message));
    assert.throws(() => loadMatrixConfig({ ...base, MATRIX_DIGEST_WINDOW: 'soon' }), (e: unknown) => e instanceof ConfigError && e.key === 'MATRIX_DIGEST_WINDOW');
    assert.throws(() => loadMatrixConfig({ ...base, MATRIX_ROUTES_FILE: '/nonexistent/routes.json' }), (e: unknown) => e instanceof ConfigError && /ENOENT/.test(e.message));
  });

  it('reads credentials, durations and routes', () => {
    const c = loadMatrixConfig({ ...base, MATRIX_ACCESS_TOKEN: undefined, MATRIX_USER: 'bot', MATRIX_PASSWORD: 'pw', MATRIX_DIGEST_WINDOW: '90s', MATRIX_ROUTES: '[{"room":"#crit:scop.test","minSeverity":"critical"}]' })!;
    assert.deepEqual(c.auth, { user: 'bot', password: 'pw', deviceId: 'SCOP_NOTIFIER' });
    assert.equal(c.digestWindowMs, 90000);
    assert.equal(c.dedupLookbackMs, 6 * 3600000);
    assert.deepEqual(c.routes.map((r) => r.room), ['#crit:scop.test', '!ops:scop.test']);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('5m'), 300000);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('5 minutes'), undefined);
  });

  it('routes by kind and minimum severity, each room once', () => {
    const routes = [
      { room: '!ops:s', minSeverity: 'info' as const },
      { room: '!fw:s', kinds: ['block'] as [string], minSeverity: 'warning' as const },
      { room: '!oncall:s', minSeverity: 'critical' as const },
      { room: '!ops:s', kinds: ['virus'] as [string], minSeverity: 'info' as const },
    ];
    assert.deepEqual(roomsFor(routes, { kind: 'block', severity: 'info' }), ['!ops:s']);
    assert.deepEqual(roomsFor(routes, { kind: 'block', severity: 'warning' }), ['!ops:s', '!fw:s']);
    assert.deepEqual(roomsFor(routes, { kind: 'virus', severity: 'critical' }), ['!ops:s', '!oncall:s']);
    assert.deepEqual(roomsFor(routes.slice(1, 2), { kind: 'virus', severity: 'critical' }), []);
  });
});

describe('matrix messages', () => {
  it('escape every alert-supplied string in the HTML and keep the plain body readable', () => {
    const a = newAlert({ kind: 'stage-error', source: 'mime<1>', summary: '<script>alert(1)</script> & "x"', subject: null, details: { 'a<b': '<img src=x onerror=y>' }, severity: 'critical' });
    const m = alertMessage(a);
    const html = String(m.formatted_body);
    assert.ok(!/<script|<img|<1>|<b>:|a<b/.test(html.replace(/<\/?(p|strong|code|ul|li|b)>/g, '')), html);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &quot;x&quot;/);
    assert.match(String(m.body), /<script>alert\(1\)<\/script> & "x"/);
    assert.match(String(m.body), /CRITICAL/);
    assert.equal(m.msgtype, 'm.notice');
    assert.equal(m.format, 'org.matrix.custom.html');
    assert.deepEqual(m[ALERT_IDS_KEY], [a.id]);
  });

  it('digest a burst: total count, subject, window, the most frequent summaries', () => {
    const alerts = [
      ...Array.from({ length: 30 }, () => newAlert({ kind: 'block', source: 'firewall', subject: '203.0.113.0/24', summary: 'connection refused from 203.0.113.7' })),
      ...Array.from({ length: 6 }, () => newAlert({ kind: 'block', source: 'firewall', subject: '203.0.113.0/24', summary: 'connection refused from 203.0.113.9' })),
      newAlert({ kind: 'block', source: 'firewall', subject: '203.0.113.0/24', summary: '<b>odd</b>' }),
    ];
    const m = digestMessage(alerts, 300000, false);
    assert.match(String(m.body), /^⚠️ \[WARNING\] 37 block alerts for 203\.0\.113\.0\/24 in the last 5 minutes/);
    assert.match(String(m.body), /30× connection refused from 203\.0\.113\.7\n {2}6× connection refused from 203\.0\.113\.9\n {2}1× <b>odd<\/b>/);
    assert.match(String(m.formatted_body), /1× &lt;b&gt;odd&lt;\/b&gt;/);
    assert.equal((m[ALERT_IDS_KEY] as string[]).length, 37);
    assert.match(String(digestMessage(alerts.slice(0, 3), 60000, true).body), /3 more block alerts .* in the last 1 minute/);
  });

  it('derive transaction ids from the alert ids only (digests: in any order)', () => {
    assert.equal(singleTxnId('a'), singleTxnId('a'));
    assert.notEqual(singleTxnId('a'), singleTxnId('b'));
    assert.equal(digestTxnId(['a', 'b', 'c']), digestTxnId(['c', 'a', 'b']));
    assert.notEqual(digestTxnId(['a', 'b']), digestTxnId(['a', 'b', 'c']));
    assert.match(singleTxnId('x'), /^[A-Za-z0-9-]+$/);
  });

  it('alertId is stable for the same facts and differs for others', () => {
    assert.equal(alertId('firewall', 'block', '203.0.113.0/24', 42n), alertId('firewall', 'block', '203.0.113.0/24', 42n));
    assert.notEqual(alertId('firewall', 'block', '203.0.113.0/24', 42), alertId('firewall', 'block', '203.0.113.0/24', 43));
    assert.notEqual(alertId('a', 'bc'), alertId('ab', 'c'));
    assert.notEqual(newAlert({ kind: 'k', source: 's', summary: 'x' }).id, newAlert({ kind: 'k', source: 's', summary: 'x' }).id);
  });
});
