/**
 * Findings of the corpus round trip (corpus/README.md), each fixed here: attachments inside
 * forwarded and attached messages and inside digests reach the attachment policy; valid messages
 * with comments in Content-Type or binary bodies carry no defects; RFC 6532 subjects keep their
 * last character; empty parts stay empty; and mailparser's part tree has the shape the round trip reads.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { Duplex } from 'node:stream';
import { analyseMime, parseMime } from './parse.ts';
import { MailParser } from 'mailparser';
import { parseMail } from './mailparser.ts';
import { mimeSymbols } from './symbols.ts';

const MZ = Buffer.concat([Buffer.from('MZ\x90\x00', 'latin1'), Buffer.alloc(60), Buffer.from('This program cannot be run in DOS mode.')]);
const hdr = 'From: a@example.com\r\nTo: b@example.net\r\nDate: Mon, 6 Feb 2023 02:53:47 -0800\r\nMessage-ID: <m@example.com>\r\nMIME-Version: 1.0\r\n';

const inner = [
  'From: c@example.org', 'Date: Sun, 5 Feb 2023 10:00:00 +0000', 'Subject: the original', 'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary=inner', '', '--inner', 'Content-Type: text/plain', '', 'forwarded words', '--inner',
  'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename=invoice.pdf.exe', '',
  MZ.toString('base64'), '--inner--', '',
].join('\r\n');

function forward(partHeaders: string): Buffer {
  return Buffer.from(`${hdr}Subject: fwd\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--outer\r\n${partHeaders}\r\n${inner}\r\n--outer--\r\n`);
}

describe('attached and forwarded messages', () => {
  it('a forwarded message (message/rfc822, no disposition) is read: its text and its attachments', async () => {
    const m = await parseMime(forward('Content-Type: message/rfc822\r\n'));
    const exe = m.attachments.find((a) => a.filename === 'invoice.pdf.exe');
    assert.ok(exe, 'the attachment inside the forwarded message is described');
    assert.equal(exe.sha256, createHash('sha256').update(MZ).digest('hex'));
    assert.ok(exe.flags.includes('executable'));
    assert.ok(mimeSymbols(m).some((x) => x.symbol === 'MIME_EXECUTABLE'), 'the policy sees the executable');
    assert.match(m.text ?? '', /forwarded words/);
    assert.deepEqual(m.defects, []);
  });

  it('a message attached as a file (disposition attachment) stays one file, and what it carries is described too', async () => {
    const m = await parseMime(forward('Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd.eml"\r\n'));
    assert.deepEqual(m.attachments.map((a) => a.filename), ['fwd.eml', 'invoice.pdf.exe']);
    assert.ok(mimeSymbols(m).some((x) => x.symbol === 'MIME_EXECUTABLE'), 'the policy sees the executable');
    assert.doesNotMatch(m.text ?? '', /forwarded words/, 'an attached file is not part of the text');
  });

  it('attached messages nested without end are parsed only to the depth limit', async () => {
    let msg = Buffer.from(`${hdr}Subject: bottom\r\n\r\nbottom\r\n`);
    for (let i = 0; i < 12; i++) {
      msg = Buffer.from(`${hdr}Subject: level ${i}\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n${msg.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`);
    }
    const t0 = Date.now();
    const m = await parseMime(msg, { limits: { ...(await import('./structure.ts')).DEFAULT_LIMITS, maxDepth: 5 } });
    assert.ok(Date.now() - t0 < 10_000);
    assert.equal(m.attachments.length, 6, 'the top attachment and five levels inside it');
  });

  it('multipart/digest parts without Content-Type are messages (RFC 2046 5.1.5), attachments included', async () => {
    const raw = Buffer.from(`${hdr}Subject: digest\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n${inner}\r\n--d\r\n\r\nFrom: e@example.org\r\nDate: Sun, 5 Feb 2023 11:00:00 +0000\r\nSubject: second\r\n\r\nsecond text\r\n--d--\r\n`);
    const m = await parseMime(raw);
    assert.ok(m.attachments.some((a) => a.filename === 'invoice.pdf.exe'));
    assert.match(m.text ?? '', /second text/);
    // Read as a message, mailparser shows its header as a summary (`Date: … GMT`), not as raw text (`+0000`).
    assert.doesNotMatch(m.text ?? '', /\+0000/, 'the digest item is read as a message, not as text');
  });
});

describe('valid messages carry no defects', () => {
  it('comments in Content-Type and Content-Transfer-Encoding (RFC 2045) are not part of the values', async () => {
    const m = await parseMime(Buffer.from(`${hdr}Subject: x\r\nContent-Type: multipart/alternative (two views); boundary="b (not a comment)"\r\n\r\n--b (not a comment)\r\nContent-Type: text/plain (plain); charset=iso-8859-1 (latin)\r\nContent-Transfer-Encoding: quoted-printable (qp)\r\n\r\nd=E9j=E0\r\n--b (not a comment)--\r\n`));
    assert.deepEqual(m.defects, []);
    assert.equal(m.parts, 2);
    assert.deepEqual(m.charsets, ['iso-8859-1']);
    assert.equal(m.text?.trim(), 'déjà');
  });

  it('a binary part may hold NUL and bare LF (RFC 2045 2.9); elsewhere they are still defects', async () => {
    const data = Buffer.from([0x00, 0x0a, 0x41, 0x0d, 0x0a, 0x00]);
    const raw = Buffer.concat([Buffer.from(`${hdr}Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: binary\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n`), data, Buffer.from('\r\n--b--\r\n')]);
    const m = await parseMime(raw);
    assert.deepEqual(m.defects, []);
    assert.equal(m.attachments[0]?.sha256, createHash('sha256').update(data).digest('hex'));
    const sevenBit = await parseMime(Buffer.concat([Buffer.from(`${hdr}Subject: x\r\n\r\na`), Buffer.from([0, 0x0a]), Buffer.from('b\r\n')]));
    assert.deepEqual(sevenBit.defects.map((d) => d.code).sort(), ['mixed-line-endings', 'nul-byte']);
  });
});

describe('mailparser hunks (patches/)', () => {
  it('an RFC 6532 subject ending in à or だ keeps its last character (trim() took the 0xA0 byte)', async () => {
    for (const subject of ['Voilà', 'ありがとうございます。ではまただ', 'à']) {
      const m = await parseMime(Buffer.from(`${hdr}Subject: ${subject}\r\n\r\nx\r\n`, 'utf8'));
      assert.equal(m.headers.subject, subject);
    }
  });

  it('HTML-only mail is still rendered to text (the converter is compiled once, not per message)', async () => {
    for (const word of ['first', 'second']) {
      const m = await parseMime(Buffer.from(`${hdr}Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>${word} <b>paragraph</b></p><ul><li>item</li></ul></body></html>\r\n`));
      assert.match(m.text ?? '', new RegExp(`${word} paragraph`));
      assert.match(m.text ?? '', /\* item/);
    }
  });

  it('an empty part is empty, not the line end before the next delimiter', async () => {
    const raw = Buffer.from(`${hdr}Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=empty.bin\r\n\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=crlf.bin\r\n\r\n\r\n\r\n--b--\r\n`);
    const m = await parseMime(raw);
    assert.deepEqual(m.attachments.map((a) => [a.filename, a.size]), [['empty.bin', 0], ['crlf.bin', 2]]);
  });

  it('no part decoder is ended twice (each second end() built and dropped an ERR_STREAM_ALREADY_FINISHED with its stack)', async () => {
    // The parser's decoders are Transforms: Duplex has its own copy of Writable's end().
    const end = Duplex.prototype.end;
    let again = 0;
    let calls = 0;
    Duplex.prototype.end = function (this: Duplex, ...args: unknown[]) {
      calls++;
      if (this.writableFinished) again++;
      return (end as (...a: unknown[]) => Duplex).apply(this, args);
    };
    try {
      const raw = Buffer.from(`${hdr}Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n`);
      const r = await parseMail(raw);
      assert.equal(r.tree.children[0]!.textContent, 'text');
      assert.deepEqual(r.attachments.map((a) => a.toString('latin1')), ['%PDF-']);
    } finally {
      Duplex.prototype.end = end;
    }
    assert.ok(calls > 0, 'the parse ends its streams');
    assert.equal(again, 0, 'end() called on a finished stream');
  });

  it('address headers render their HTML and text when read, not during the parse, and render the same', async () => {
    const proto = MailParser.prototype as unknown as Record<'getAddressesHTML' | 'getAddressesText', (v: unknown) => string>;
    const saved = { html: proto.getAddressesHTML, text: proto.getAddressesText };
    let rendered = 0;
    proto.getAddressesHTML = function (v) { rendered++; return saved.html.call(this, v); };
    proto.getAddressesText = function (v) { rendered++; return saved.text.call(this, v); };
    let r: Awaited<ReturnType<typeof parseMail>>;
    try {
      r = await parseMail(Buffer.from('From: =?UTF-8?Q?J=C3=B6ns?= <j@example.org>\r\nTo: Team: a@b.example;, c@d.example\r\nSubject: x\r\n\r\nbody\r\n'));
    } finally {
      Object.assign(proto, { getAddressesHTML: saved.html, getAddressesText: saved.text });
    }
    assert.equal(rendered, 0, 'address headers rendered during the parse');
    const from = r.mail.headers.get('from') as { value: unknown; html: string; text: string };
    assert.deepEqual(Object.keys(from), ['value', 'html', 'text']);
    assert.deepEqual(JSON.parse(JSON.stringify(from)), {
      value: [{ address: 'j@example.org', name: 'Jöns' }],
      html: '<span class="mp_address_group"><span class="mp_address_name">J&#xF6;ns</span> &lt;<a href="mailto:j@example.org" class="mp_address_email">j@example.org</a>&gt;</span>',
      text: '"Jöns" <j@example.org>',
    });
    assert.equal((r.mail.headers.get('to') as { text: string }).text, '"Team": a@b.example;, c@d.example');
  });
});

describe("mailparser's part tree", () => {
  it('has the fields the round trip reads: headers, types, children, text, attachments in order, embedded messages', async () => {
    const r = await parseMail(forward('Content-Type: message/rfc822\r\n'));
    const root = r.tree;
    assert.equal(root.contentType, 'multipart/mixed');
    assert.ok(root.headerLines.some((l) => l.key === 'subject' && l.line === 'Subject: fwd'));
    assert.equal(root.headers.get('subject'), 'fwd');
    const [text, fwd] = root.children;
    assert.equal(text?.textContent, 'see below');
    assert.equal(fwd?.contentType, 'message/rfc822');
    assert.equal(fwd?.node.messageNode, true);
    const msg = fwd!.children[0]!;
    assert.equal(msg.headers.get('subject'), 'the original');
    assert.deepEqual(msg.children.map((c) => [c.contentType, c.isAttachment ?? false]), [['text/plain', false], ['application/octet-stream', true]]);
    assert.equal(msg.children[1]!.node.encoding, 'base64');
    assert.equal(msg.children[1]!.node.filename, 'invoice.pdf.exe');
    assert.equal(r.attachments.length, 1);
    assert.ok(r.attachments[0]!.equals(MZ));
    const a = await analyseMime(forward('Content-Type: message/rfc822\r\n'));
    assert.ok(a.parsed, 'analyseMime hands the tree on');
  });
});

/** parseMime settles within 10 s (the hangs below left mailparser waiting forever). */
async function assertParseEnds(raw: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((ok) => { timer = setTimeout(() => ok('hung'), 10_000); });
  const m = await Promise.race([parseMime(Buffer.from(raw)), hung]).finally(() => clearTimeout(timer));
  assert.notEqual(m, 'hung', 'parseMime never settled');
}

describe('an attached message with nothing in it (found by fuzz/targets/mime.ts)', () => {
  // mailsplit never emitted the empty embedded message's node, and mailparser then waited for it
  // forever: one such message held a MIME worker until the stage's 60 s record limit (mailsplit hunk).
  const shapes: Record<string, string> = {
    'closed at once': '--b\r\nContent-Type: message/rfc822\r\n\r\n--b--\r\n',
    'closed twice': '--b\r\nContent-Type: message/rfc822\r\n\r\n--b--\r\n\r\n--b--\r\n',
    'followed by a sibling': '--b\r\nContent-Type: message/rfc822\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n',
    'closed by the outer multipart': 'x\r\n--a\r\nContent-Type: message/rfc822\r\n\r\n--b--\r\n',
  };
  for (const [name, body] of Object.entries(shapes)) {
    it(`${name}: the parse ends`, async () => {
      const outer = name === 'closed by the outer multipart'
        ? `${hdr}Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary="a"\r\n\r\n${body}`
        : `${hdr}Content-Type: multipart/mixed; boundary="b"\r\n\r\n${body}`;
      await assertParseEnds(outer);
    });
  }
});

describe('a message whose input ends inside the header of an attached message (found by fuzz/targets/mime.ts)', () => {
  // At the end of the input mailsplit began the embedded message's node and never pushed it, and
  // mailparser waited for it forever (mailsplit hunk: at the end, a message/rfc822 header is a leaf).
  const shapes: Record<string, string> = {
    'the whole message is that header, no line end': 'Content-Type: message/rfc822',
    'that header and one line end': 'Subject: a\r\nContent-Type: message/rfc822\r\n',
    'inside an attached message': 'Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822',
    'inside a multipart that is never closed': 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822',
  };
  for (const [name, raw] of Object.entries(shapes)) {
    it(`${name}: the parse ends`, async () => {
      await assertParseEnds(raw);
    });
  }
});
