/**
 * `contentChecks: false` (the corpus round trip's parse) leaves the parse as it is and only skips
 * looking into the content: no sniffed types, no attachment flags, no URLs. Everything else of the
 * section is the same as the stage's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyseMime } from './parse.ts';

// An executable named as a PDF, sent as a PDF, and a link: the stage flags and lists them.
const MZ = Buffer.concat([Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), Buffer.alloc(120, 0x41)]);
const RAW = Buffer.from([
  'From: Ann <ann@example.org>',
  'To: bob@example.net',
  'Subject: invoice',
  'Date: Mon, 1 Jan 2024 10:00:00 +0000',
  'Message-ID: <m1@example.org>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b"',
  '',
  '--b',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Pay at https://pay.example.com/x today.',
  '--b',
  'Content-Type: application/pdf; name="invoice.pdf.exe"',
  'Content-Disposition: attachment; filename="invoice.pdf.exe"',
  'Content-Transfer-Encoding: base64',
  '',
  MZ.toString('base64'),
  '--b--',
  '',
].join('\r\n'));

describe('analyseMime contentChecks', () => {
  it('on (the default): sniffed type, flags and URLs', async () => {
    const { section } = await analyseMime(RAW, { now: () => 0 });
    assert.deepEqual(section.urls, ['https://pay.example.com/x']);
    assert.equal(section.attachments.length, 1);
    assert.ok(section.attachments[0]!.flags.includes('executable'), JSON.stringify(section.attachments[0]));
    assert.ok(section.attachments[0]!.flags.includes('double-extension'));
    assert.ok(section.attachmentFlags.includes('executable'));
  });

  it('off: the same section without sniffed types, flags and URLs', async () => {
    const on = await analyseMime(RAW, { now: () => 0 });
    const off = await analyseMime(RAW, { now: () => 0, contentChecks: false });
    assert.deepEqual(off.section.urls, []);
    assert.deepEqual(off.section.attachmentFlags, []);
    assert.deepEqual(off.section.attachments, on.section.attachments.map((a) => ({ ...a, sniffedType: null, flags: [] })));
    assert.equal(off.section.attachments[0]!.sha256, on.section.attachments[0]!.sha256);
    assert.equal(off.section.attachments[0]!.size, MZ.length);
    const rest = (s: typeof on.section) => ({ ...s, urls: [], attachments: [], attachmentFlags: [] });
    assert.deepEqual(rest(off.section), rest(on.section));
    // The parse itself is the stage's: the same mailparser tree and attachment bytes.
    assert.deepEqual(off.parsed!.attachments, on.parsed!.attachments);
    assert.equal(off.parsed!.tree.children.length, on.parsed!.tree.children.length);
  });
});
