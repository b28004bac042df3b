/** The submission MAC key file: created once (0600) where allowed, refused when missing, unreadable, shared or malformed. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { testEnvelope } from './stage-testing.ts';
import { ConfigError } from './config.ts';
import { loadSubmissionMacKey, sealedEnvelope, submissionMacKeyFile, submissionMacProblem } from './submission-mac.ts';

const dir = mkdtempSync(join(tmpdir(), 'scop-mac-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const refused = (f: () => unknown, text: RegExp) => assert.throws(f, (e: unknown) => e instanceof ConfigError && e.key === 'SCOP_SUBMISSION_MAC_KEY_FILE' && text.test(e.message));

test('the default file is created once, 0600, and read back; the signer side never creates one', () => {
  refused(() => loadSubmissionMacKey({ dataDir: dir, create: false }), /cannot read .*ENOENT/);
  const a = loadSubmissionMacKey({ dataDir: dir, create: true });
  const file = submissionMacKeyFile(undefined, dir);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(loadSubmissionMacKey({ dataDir: dir, create: true }), a, 'not replaced on the next start');
  assert.deepEqual(loadSubmissionMacKey({ file, dataDir: '/elsewhere', create: false }), a);
  assert.equal(readFileSync(file, 'utf8').trim().length, 64);
});

test('an explicitly named file is never created; a shared or malformed one is refused with the fix', () => {
  refused(() => loadSubmissionMacKey({ file: join(dir, 'missing.key'), dataDir: dir, create: true }), /missing\.key/);
  const loose = join(dir, 'loose.key');
  writeFileSync(loose, `${'ab'.repeat(32)}\n`, { mode: 0o644 });
  chmodSync(loose, 0o644);
  refused(() => loadSubmissionMacKey({ file: loose, dataDir: dir, create: false }), /readable by others.*chmod 600/);
  const bad = join(dir, 'bad.key');
  writeFileSync(bad, 'not hex', { mode: 0o600 });
  refused(() => loadSubmissionMacKey({ file: bad, dataDir: dir, create: false }), /64 hex digits/);
});

test('a MAC made with another key, a record without one, or a traceLength outside raw is a problem', () => {
  const key = loadSubmissionMacKey({ dataDir: dir, create: true });
  const e = sealedEnvelope(key, testEnvelope('Received: x\r\nSubject: s\r\n\r\nbody\r\n', { authUser: 'u', traceLength: 13 }));
  assert.equal(submissionMacProblem(key, e), null);
  assert.match(submissionMacProblem(Buffer.alloc(32, 1), e)!, /does not match/);
  assert.match(submissionMacProblem(key, { ...e, submissionMac: null })!, /carries no submission MAC/);
  assert.match(submissionMacProblem(key, { ...e, traceLength: 9999 })!, /outside raw/);
  assert.match(submissionMacProblem(key, { ...e, traceLength: 0 })!, /does not match/, 'the trace cannot be moved into the signed part');
});
