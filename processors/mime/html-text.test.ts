/**
 * HTML rendered to text has a size limit of its own (MIME_MAX_HTML_TO_TEXT_BYTES, default 1 MiB).
 * html-to-text builds a DOM of the whole part, synchronously: link-dense HTML cost ~14× the CPU of
 * plain text per byte and ~80 bytes of heap per byte (a 3.8 MiB part: 0.8 s, 320 MB RSS, measured
 * on a loaded box with bench/hostile-stages.ts). Before, only mailparser's 4 MiB limit applied.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMime } from './parse.ts';
import { loadMimeConfig } from './service.ts';
import { DEFAULT_LIMITS } from './structure.ts';

const HEAD = 'From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n';
const html = (bytes: number) => Buffer.from(`${HEAD}Content-Type: text/html\r\n\r\n${'<a href="http://x.example/a">l</a>'.repeat(Math.floor(bytes / 34))}\r\n`);
const text = (bytes: number) => Buffer.from(`${HEAD}Content-Type: text/plain\r\n\r\n${'the quick brown fox jumps over the lazy dog\r\n'.repeat(Math.floor(bytes / 45))}`);

/** CPU ms of parseMime, the faster of two runs (a loaded machine stalls runs, never shortens them). */
async function cpuMs(raw: Buffer): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 2; i++) {
    const c0 = process.cpuUsage();
    await parseMime(raw, { guessLanguage: false });
    const c = process.cpuUsage(c0);
    runs.push((c.user + c.system) / 1000);
  }
  return Math.min(...runs);
}

describe('HTML to text is bounded by MIME_MAX_HTML_TO_TEXT_BYTES', () => {
  it('a part over the limit keeps its HTML and gives no text; one under it is rendered', async () => {
    const limits = { ...DEFAULT_LIMITS, maxHtmlToTextBytes: 64 * 1024 };
    const over = await parseMime(html(100 * 1024), { limits });
    assert.equal(over.text, null);
    assert.ok(over.html && over.html.length > 60 * 1024);
    assert.ok(over.tags.includes('has-html') && !over.tags.includes('has-text'));
    const under = await parseMime(html(32 * 1024), { limits });
    assert.match(under.text ?? '', /^l \[http:\/\/x\.example\/a\]/);
  });

  it('1.5 MiB of link-dense HTML costs about what 1.5 MiB of plain text does (was ~10×)', async () => {
    const size = 1.5 * 1024 * 1024;
    await cpuMs(text(64 * 1024)); // warm-up (module loading)
    const base = await cpuMs(text(size));
    const t = await cpuMs(html(size));
    assert.ok(t < base * 3 + 40, `HTML ${t.toFixed(0)} ms, text ${base.toFixed(0)} ms`);
  });

  it('is configuration: MIME_MAX_HTML_TO_TEXT_BYTES, checked at start', () => {
    assert.equal(loadMimeConfig({}).limits.maxHtmlToTextBytes, 1024 * 1024);
    assert.equal(loadMimeConfig({ MIME_MAX_HTML_TO_TEXT_BYTES: '2097152' }).limits.maxHtmlToTextBytes, 2 * 1024 * 1024);
    assert.throws(() => loadMimeConfig({ MIME_MAX_HTML_TO_TEXT_BYTES: '10' }), /MIME_MAX_HTML_TO_TEXT_BYTES/);
  });
});
