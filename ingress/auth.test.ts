/**
 * AUTH hardening on the submission listener: failure limits per session, per client prefix and per
 * user (with lockouts that double), the bound on concurrent password hashing, and argon2id hashes
 * with the transparent upgrade of old scrypt entries.
 */
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../runtime/testing.ts';
import { AuthGuard, HashBusyError, HashLimiter } from './auth-guard.ts';
import { metricValue, startTestIngress, submissionClient, type TestIngress } from './testkit.ts';
import { addUser, readUsers } from './users.ts';

const PASSWORD = 'correct horse battery';

describe('AUTH limits over SMTP', () => {
  let t: TestIngress;
  let port: number;
  before(async () => {
    t = await startTestIngress({
      name: 'auth',
      env: {
        INGRESS_AUTH_FAILURE_DELAY_MS: '0', INGRESS_AUTH_MAX_FAILURES_PER_SESSION: '3', INGRESS_AUTH_MAX_FAILURES_PER_PREFIX: '4',
        INGRESS_AUTH_MAX_FAILURES_PER_USER: '5', INGRESS_AUTH_LOCKOUT_MS: '60000', INGRESS_AUTH_HASH_CONCURRENCY: '1',
      },
    });
    for (const u of ['alice@example.com', 'bob@example.com', 'carol@example.com']) await addUser(t.config.usersFile, u, PASSWORD);
    port = t.ingress.ports.SUBMISSION!;
  });
  after(async () => { await t.stop(); });

  async function attempt(ip: string, user: string, password: string): Promise<string> {
    const c = await submissionClient(port, ip);
    const r = await c.authPlain(user, password);
    c.close();
    return r.text;
  }

  it('closes the session with 421 4.7.0 at the third failure (not 30 tries and then a success)', async () => {
    const c = await submissionClient(port, '127.0.40.1');
    assert.match((await c.authPlain('alice@example.com', 'wrong 1')).text, /^535 5\.7\.8 /);
    assert.match((await c.authPlain('alice@example.com', 'wrong 2')).text, /^535 5\.7\.8 /);
    assert.match((await c.authPlain('alice@example.com', PASSWORD)).text, /^235 /, 'a success before the limit still works');
    c.close();
    const d = await submissionClient(port, '127.0.41.1');
    for (const n of [1, 2]) assert.match((await d.authPlain('alice@example.com', `wrong ${n}`)).text, /^535 /);
    assert.match((await d.authPlain('alice@example.com', 'wrong 3')).text, /^421 4\.7\.0 Too many failed logins/);
    await d.closed;
    assert.ok(await metricValue(t.metrics, 'scop_ingress_rejections_total', { stage: 'AUTH', code: '421', reason: 'auth-failures' }) >= 1);
  });

  it('locks a client prefix out after too many failures (even with the right password), without hashing; other prefixes are unaffected', async () => {
    // 127.0.41.0/24 has 3 failures from the previous test; one more reaches the limit of 4.
    assert.match(await attempt('127.0.41.2', 'carol@example.com', 'wrong'), /^535 /);
    const locked = await attempt('127.0.41.3', 'carol@example.com', PASSWORD);
    assert.match(locked, /^421 4\.7\.0 Too many failed logins, try again in \d+ s/);
    assert.match(await attempt('127.0.42.1', 'carol@example.com', PASSWORD), /^235 /, 'another /24 logs in');
    assert.ok(await metricValue(t.metrics, 'scop_ingress_auth_total', { result: 'locked' }) >= 1);
  });

  it('locks a user out after failures from several prefixes, except on networks it logged in from before', async () => {
    assert.match(await attempt('127.0.50.1', 'bob@example.com', PASSWORD), /^235 /, 'bob logs in from his usual network');
    for (const [ip, n] of [['127.0.51.1', 2], ['127.0.52.1', 2], ['127.0.53.1', 1]] as const) {
      const c = await submissionClient(port, ip);
      for (let i = 0; i < n; i++) assert.match((await c.authPlain('bob@example.com', `guess ${ip} ${i}`)).text, /^535 /);
      c.close();
    }
    assert.match(await attempt('127.0.54.1', 'bob@example.com', PASSWORD), /^421 4\.7\.0 Too many failed logins/, 'bob is locked out on a new network');
    assert.match(await attempt('127.0.50.2', 'bob@example.com', PASSWORD), /^235 /, 'but not on the network he used before');
  });

  it('upgrades an old scrypt entry to argon2id at the next successful login', async () => {
    const salt = randomBytes(16);
    const key = scryptSync(PASSWORD, salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    const file = t.config.usersFile;
    writeFileSync(file, `${readFileSync(file, 'utf8')}dave@example.com:$scrypt$ln=15,r=8,p=1$${salt.toString('base64')}$${key.toString('base64')}\n`, { mode: 0o600 });
    assert.match(await attempt('127.0.60.1', 'dave@example.com', PASSWORD), /^235 /);
    await eventually(() => (readUsers(file).get('dave@example.com')?.startsWith('$argon2id$v=19$m=19456,t=2,p=1$') ? true : undefined), 15000, 'the entry rewritten');
    assert.match(await attempt('127.0.60.2', 'dave@example.com', PASSWORD), /^235 /, 'the new hash verifies');
    assert.match(await attempt('127.0.60.3', 'dave@example.com', 'not the password'), /^535 /);
    assert.equal(await metricValue(t.metrics, 'scop_ingress_auth_rehashed_total'), 1);
    assert.equal(readUsers(file).get('alice@example.com')?.startsWith('$argon2id$'), true, 'other entries untouched');
  });

  it('bounds concurrent hashing: 7 sessions authenticating at once delay DNS lookups no more than 7 in a row do', async () => {
    /** Runs `work` while a lookup starts every 10 ms; returns the lookups' p90 in ms. */
    async function lookupsDuring(work: Promise<unknown>): Promise<number> {
      const lookups: number[] = [];
      const pending: Promise<unknown>[] = [];
      let done = false;
      void work.then(() => { done = true; });
      while (!done) {
        const s = performance.now();
        pending.push(lookup('localhost').then(() => lookups.push(performance.now() - s)));
        await new Promise((ok) => setTimeout(ok, 10));
      }
      await Promise.all(pending);
      lookups.sort((a, b) => a - b);
      return lookups[Math.floor(lookups.length * 0.9)]!;
    }
    // Unknown user, one attempt per /24: no lockout interferes, every attempt costs a full hash.
    const connect = (base: number) => Promise.all(Array.from({ length: 7 }, (_, i) => submissionClient(port, `127.0.${base + i}.1`)));
    const inRow = await connect(100);
    const rowP90 = await lookupsDuring((async () => { for (const c of inRow) await c.authPlain('nobody@example.com', 'wrong'); })());
    const atOnce = await connect(110);
    const burstP90 = await lookupsDuring(Promise.all(atOnce.map((c) => c.authPlain('nobody@example.com', 'wrong'))));
    for (const c of [...inRow, ...atOnce]) c.close();
    assert.equal(t.ingress.hashLimiter.peak, 1, 'never more than INGRESS_AUTH_HASH_CONCURRENCY hashes at once');
    // Unbounded, the burst takes every libuv thread and lookups wait for hashes (p90 ≈ one hash, 100-400 ms here).
    assert.ok(burstP90 < 3 * rowP90 + 25, `dns.lookup p90 ${burstP90.toFixed(1)} ms during the burst vs ${rowP90.toFixed(1)} ms during the same hashes in a row`);
  });
});

describe('AUTH building blocks', () => {
  const settings = { maxFailuresPerSession: 3, maxFailuresPerPrefix: 3, maxFailuresPerUser: 5, failureWindowMs: 60_000, lockoutMs: 1000, lockoutMaxMs: 5000, failureDelayMs: 0, hashConcurrency: 1, hashQueue: 1 };

  it('lockouts double with each repeat, up to the maximum, and a quiet prefix is forgotten', () => {
    const g = new AuthGuard(settings);
    let now = 1_000_000;
    const lockFor = () => {
      for (let i = 0; i < 3; i++) g.failed('192.0.2.0/24', 'x', false, now);
      return g.lockedOut('192.0.2.0/24', 'x', now)?.retryAfterMs;
    };
    assert.equal(g.lockedOut('192.0.2.0/24', 'x', now), undefined);
    const lengths: (number | undefined)[] = [];
    for (let k = 0; k < 5; k++) {
      lengths.push(lockFor());
      now += lengths.at(-1)! + 1;
    }
    assert.deepEqual(lengths, [1000, 2000, 4000, 5000, 5000]);
    now += 60_000 + 5000 + 1;
    assert.equal(lockFor(), 1000, 'after a quiet period the doubling starts over');
    assert.equal(g.lockedOut('198.51.100.0/24', 'x', now), undefined, 'other prefixes are not locked');
  });

  it('failures for unknown names do not lock those names; the hash limiter refuses beyond its queue', async () => {
    const g = new AuthGuard({ ...settings, maxFailuresPerPrefix: 100 });
    for (let i = 0; i < 10; i++) g.failed(`192.0.2.${i}/32`, 'nobody', false);
    assert.equal(g.lockedOut('203.0.113.0/24', 'nobody'), undefined);
    const h = new HashLimiter(1, 1);
    let release!: () => void;
    const first = h.run(() => new Promise<void>((ok) => { release = ok; }));
    const second = h.run(async () => 'second');
    await assert.rejects(h.run(async () => 'third'), HashBusyError);
    assert.equal(h.queued, 1);
    release();
    await first;
    assert.equal(await second, 'second');
    assert.equal(h.active, 0);
    assert.equal(h.peak, 1);
  });
});
