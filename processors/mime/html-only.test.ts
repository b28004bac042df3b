/**
 * The `html-only` tag: an HTML body with no text body, whatever the container. Before, only a
 * top-level text/html could be told (the spam stage read the top-level Content-Type): mailparser
 * renders the HTML as `text` when there is no text part, so multipart/mixed or multipart/related
 * with an HTML body and attachments looked like a message with both.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMime } from './parse.ts';

const HEAD = 'From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n';
const HTML = 'Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Cheap <b>pills</b> here</p></body></html>\r\n';
const PDF = 'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n';

function multipart(type: string, ...parts: string[]): Buffer {
  return Buffer.from(`${HEAD}Content-Type: ${type}; boundary="b1"\r\n\r\n${parts.map((p) => `--b1\r\n${p}`).join('')}--b1--\r\n`);
}

async function tags(raw: Buffer): Promise<string[]> {
  return (await parseMime(raw, { guessLanguage: false })).tags;
}

describe('html-only tag', () => {
  it('fires on an HTML body without a text body, in any container', async () => {
    assert.ok((await tags(Buffer.from(`${HEAD}${HTML}`))).includes('html-only'), 'top-level text/html');
    assert.ok((await tags(multipart('multipart/mixed', HTML, PDF))).includes('html-only'), 'multipart/mixed: HTML + attachment');
    assert.ok((await tags(multipart('multipart/related', HTML, 'Content-Type: image/png\r\nContent-ID: <i1>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n'))).includes('html-only'), 'multipart/related');
    // An empty text alternative is no text body: bulk tools add one to look like a mail client.
    assert.ok((await tags(multipart('multipart/alternative', 'Content-Type: text/plain\r\n\r\n \r\n', HTML))).includes('html-only'), 'empty text alternative');
    // A text file attached is not a text body.
    assert.ok((await tags(multipart('multipart/mixed', HTML, 'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="a.txt"\r\n\r\nsome attached text\r\n'))).includes('html-only'), 'text/plain attachment');
  });

  it('does not fire when a text body exists, or without HTML', async () => {
    const text = 'Content-Type: text/plain; charset=utf-8\r\n\r\nCheap pills here\r\n';
    assert.ok(!(await tags(multipart('multipart/alternative', text, HTML))).includes('html-only'), 'alternative with text');
    assert.ok(!(await tags(multipart('multipart/mixed', text, HTML, PDF))).includes('html-only'), 'mixed with a text body');
    assert.ok(!(await tags(multipart('multipart/mixed', `Content-Type: multipart/alternative; boundary="b2"\r\n\r\n--b2\r\n${text}--b2\r\n${HTML}--b2--\r\n`, PDF))).includes('html-only'), 'nested alternative with text');
    const plain = await tags(Buffer.from(`${HEAD}Content-Type: text/plain\r\n\r\nhello\r\n`));
    assert.ok(!plain.includes('html-only') && !plain.includes('has-html'));
  });
});
