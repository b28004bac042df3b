/**
 * Large messages are parsed in a worker thread (service.ts, boundedParser; parse-worker.ts): the
 * section is the one inline parsing gives; a parse stuck past its limit or the record's is stopped
 * (the worker thread terminated), the record is dead-lettered as process-timeout by the stage
 * runtime (sectionStep, as the engine runs it) and the next record is parsed. Configuration errors
 * name the key.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import MailComposer from 'nodemailer/lib/mail-composer';
import { ConfigError } from '../../runtime/config.ts';
import { RecordRejected, type SourceRef } from '../../runtime/engine.ts';
import { loggerFor } from '../../runtime/log.ts';
import { sectionStep, type StepEnv } from '../../runtime/stage.ts';
import { testMailRecord } from '../../runtime/stage-testing.ts';
import { skipWithoutTestdata, testdataPath } from '../../runtime/testdata.ts';
import type { MimeSection } from '../../schemas/types.ts';
import { parseMime } from './parse.ts';
import { boundedParser, DEFAULT_INLINE_MAX_BYTES, DEFAULT_PARSE_TIMEOUT_MS, loadMimeConfig, mimeService, type BoundedParser, type MimeState } from './service.ts';
import { DEFAULT_LIMITS } from './structure.ts';

const HANGING = new URL('./hanging-parse.test-worker.ts', import.meta.url);
const HEAD = 'From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\nTo: b@example.net\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n';

/** The section without its timestamp (the only field that depends on when it was parsed). */
const stable = (m: MimeSection) => ({ ...m, parsedAt: 0 });

const parsers: BoundedParser[] = [];
function parser(opts: Partial<Parameters<typeof boundedParser>[0]> = {}): BoundedParser {
  const p = boundedParser({ limits: DEFAULT_LIMITS, inlineMaxBytes: 0, threads: 1, timeoutMs: 30_000, ...opts });
  parsers.push(p);
  return p;
}
after(() => Promise.all(parsers.map((p) => p.close())));

/** A message of about `bytes`: text, an HTML alternative, an encoded-word subject and a PDF attachment named with RFC 2231. */
async function large(bytes: number): Promise<Buffer> {
  const raw = await new MailComposer({
    from: 'Jörg <j@example.org>', to: 'b@example.net', subject: 'Grüße Gr=C3=BC=C3=9Fe',
    text: 'see https://example.org/report now\n'.repeat(bytes / 140), html: '<p>see <a href="https://example.org/report">the report</a></p>\n'.repeat(bytes / 240),
    attachments: [{ filename: 'Bericht für März.pdf', content: Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(bytes / 4, 'x')]) }, { filename: 'run.exe', content: Buffer.from('MZ\x90\x00') }],
  }).compile().build();
  return raw;
}

function stepFor(p: BoundedParser, processTimeoutMs: number) {
  const state: MimeState = { config: loadMimeConfig({}), parser: p };
  const env = { svc: {}, raws: {} } as unknown as StepEnv; // a record with its raw inline needs neither
  return sectionStep({ ...mimeService.stage, processTimeoutMs }, env, state, new Map());
}
const source: SourceRef = { topic: 'mail.inbound.raw', partition: 0, offset: '7', key: null, headers: {} };
const log = loggerFor('mime-worker-test');

describe('MIME parsing in a worker thread', () => {
  it('configuration: defaults, and a bad value names the key', () => {
    const c = loadMimeConfig({});
    assert.equal(c.inlineMaxBytes, DEFAULT_INLINE_MAX_BYTES);
    assert.equal(c.inlineMaxBytes, 65536);
    assert.equal(c.parseThreads, 1);
    assert.equal(c.parseTimeoutMs, DEFAULT_PARSE_TIMEOUT_MS);
    assert.equal(loadMimeConfig({ MIME_INLINE_MAX_BYTES: '0' }).inlineMaxBytes, 0);
    assert.equal(loadMimeConfig({ MIME_PARSE_THREADS: '2', MIME_PARSE_TIMEOUT_MS: '5000' }).parseThreads, 2);
    for (const [key, value] of [['MIME_INLINE_MAX_BYTES', 'lots'], ['MIME_INLINE_MAX_BYTES', '-1'], ['MIME_PARSE_THREADS', '0'], ['MIME_PARSE_TIMEOUT_MS', '60000'], ['MIME_PARSE_TIMEOUT_MS', '50']] as const) {
      assert.throws(() => loadMimeConfig({ [key]: value }), (e: Error) => e instanceof ConfigError && e.message.includes(key) && /e\.g\./.test(e.message), `${key}=${value}`);
    }
  });

  it('gives the section inline parsing gives: fixtures with attachments, HTML-only, encoded words, attached messages', { skip: skipWithoutTestdata('nodemailer-mailparser-fixtures', 'crymap-testdata') }, async () => {
    const worker = parser();
    const dir = testdataPath('nodemailer-mailparser-fixtures');
    const messages: [string, Buffer][] = readdirSync(dir).filter((f) => f.endsWith('.eml')).map((f) => [f, readFileSync(join(dir, f))]);
    messages.push(['torture-test.eml', readFileSync(testdataPath('crymap-testdata/torture-test.eml'))]);
    messages.push(['html-only', Buffer.from(`${HEAD}Subject: =?iso-8859-1?q?Caf=E9?= =?utf-8?b?4pyU?=\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Cheap <b>pills</b> <a href="http://x.example/a">here</a></p>\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf.exe\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b1--\r\n`)]);
    messages.push(['forwarded', Buffer.from(`${HEAD}Subject: fwd\r\nContent-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@example.com\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary="i"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--i\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.scr"\r\n\r\nMZ\r\n--i--\r\n--o--\r\n`)]);
    let attachments = 0;
    for (const [name, raw] of messages) {
      const inline = await parseMime(raw, { limits: DEFAULT_LIMITS });
      const inWorker = await worker.parse(raw);
      assert.deepEqual(stable(inWorker), stable(inline), name);
      attachments += inline.attachments.length;
    }
    assert.ok(attachments >= 30, `the set has attachments (${attachments})`);
    assert.ok(messages.length >= 12);
    const htmlOnly = await worker.parse(messages.find(([n]) => n === 'html-only')![1]);
    assert.ok(htmlOnly.tags.includes('html-only') && htmlOnly.tags.includes('encoded-headers'));
    assert.equal(htmlOnly.headers.subject, 'Café✔', 'adjacent encoded words, two charsets');
  });

  it('a message over the threshold is parsed in the worker, with the same section; one under it inline', async () => {
    // The hanging module hangs on the subject "hang": a section back means the message was not parsed there, a timeout that it was.
    const p = parser({ inlineMaxBytes: DEFAULT_INLINE_MAX_BYTES, module: HANGING, timeoutMs: 1_000 });
    const small = Buffer.from(`${HEAD}Subject: hang\r\n\r\nhello\r\n`);
    assert.equal((await p.parse(small)).headers.subject, 'hang', 'a small message is parsed inline');
    const bigHang = Buffer.from(`${HEAD}Subject: hang\r\nContent-Type: text/plain\r\n\r\n${'hello world\r\n'.repeat(6000)}`);
    assert.ok(bigHang.length > DEFAULT_INLINE_MAX_BYTES);
    await assert.rejects(p.parse(bigHang), /took longer than 1000 ms/, 'a large one goes to the worker');
    const raw = await large(1 << 20);
    assert.ok(raw.length > 512 * 1024, `${raw.length} bytes`);
    const inWorker = await p.parse(raw);
    assert.deepEqual(stable(inWorker), stable(await parseMime(raw, { limits: DEFAULT_LIMITS })));
    assert.ok(inWorker.attachments.some((a) => a.flags.includes('executable')));
    assert.equal(inWorker.headers.subject, 'Grüße Gr=C3=BC=C3=9Fe');
  });

  it("a parse stuck past the record's time limit: the worker is terminated, the record dead-lettered as process-timeout, the next parsed", async () => {
    // 3 s: a worker thread starts in ~0.5–1 s (tsx), the warm-up's and the replacement's included.
    const step = stepFor(parser({ module: HANGING }), 3_000);
    const warm = await step.apply(testMailRecord(`${HEAD}Subject: warm-up\r\n\r\nhello\r\n`), source, 'r0', log);
    assert.equal(warm.out?.mime?.headers.subject, 'warm-up');
    let ticks = 0;
    const ticking = setInterval(() => ticks++, 20);
    const t0 = performance.now();
    await assert.rejects(step.apply(testMailRecord(`${HEAD}Subject: hang\r\n\r\nhello\r\n`), source, 'r1', log), (e: unknown) => {
      assert.ok(e instanceof RecordRejected);
      assert.equal(e.reason, 'process-timeout');
      assert.match(e.message, /took longer than 3000 ms/);
      return true;
    });
    const took = performance.now() - t0;
    clearInterval(ticking);
    // Far above the 3 s limit on a loaded 2-core box (6 s once failed at 6,016 ms), far below never stopping.
    assert.ok(took < 15_000, `stopped after ${took.toFixed(0)} ms`);
    assert.ok(ticks >= 50, `the event loop kept running while the worker hung (${ticks} ticks)`);
    const next = await step.apply(testMailRecord(`${HEAD}Subject: next\r\n\r\nhello\r\n`), source, 'r2', log);
    assert.equal(next.out?.mime?.headers.subject, 'next', 'the hung worker was replaced');
  });

  it('a parse past MIME_PARSE_TIMEOUT_MS is stopped below the record limit: process-timeout naming the key', async () => {
    const step = stepFor(parser({ module: HANGING, timeoutMs: 3_000 }), 60_000);
    const t0 = performance.now();
    await assert.rejects(step.apply(testMailRecord(`${HEAD}Subject: hang\r\n\r\nhello\r\n`), source, 'r1', log), (e: unknown) => {
      assert.ok(e instanceof RecordRejected);
      assert.equal(e.reason, 'process-timeout');
      assert.match(e.message, /MIME parse of a \d+-byte message took longer than 3000 ms \(MIME_PARSE_TIMEOUT_MS\)/);
      return true;
    });
    // Stopped by the 3 s key, far below the record's 60 s (a cold worker start counts too: 15 s, not 6 s, on a loaded box).
    assert.ok(performance.now() - t0 < 15_000);
    assert.equal((await step.apply(testMailRecord(`${HEAD}Subject: after\r\n\r\nhello\r\n`), source, 'r2', log)).out?.mime?.headers.subject, 'after');
  });
});
