/**
 * Attachment policy, defects and limits on messages built here (nodemailer's MailComposer or by
 * hand), and a fast-check property: composed messages round-trip through parseMime.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import MailComposer from 'nodemailer/lib/mail-composer';
import { parseMime } from './parse.ts';
import { mimeSymbols } from './symbols.ts';
import { DEFAULT_LIMITS } from './structure.ts';

type Att = { filename: string; content: Buffer; contentType?: string };

async function compose(attachments: Att[], extra: Record<string, unknown> = {}): Promise<Buffer> {
  return new MailComposer({ from: 'a@example.com', to: 'b@example.net', subject: 'files', text: 'see attached', attachments, ...extra }).compile().build();
}

/** A minimal stored (uncompressed) zip, by hand; `encrypted` sets APPNOTE general-purpose bit 0. */
function zip(entries: { name: string; data: Buffer }[], encrypted = false): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(encrypted ? 1 : 0, 6);
    lh.writeUInt32LE(e.data.length, 18); lh.writeUInt32LE(e.data.length, 22); lh.writeUInt16LE(name.length, 26);
    locals.push(lh, name, e.data);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(encrypted ? 1 : 0, 8);
    ch.writeUInt32LE(e.data.length, 20); ch.writeUInt32LE(e.data.length, 24); ch.writeUInt16LE(name.length, 28); ch.writeUInt32LE(offset, 42);
    central.push(ch, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const MZ = Buffer.concat([Buffer.from('MZ\x90\x00', 'latin1'), Buffer.alloc(60), Buffer.from('This program cannot be run in DOS mode.')]);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5b3a4e20000000049454e44ae426082', 'hex');

describe('attachment policy', () => {
  it('flags executables, double extensions, mismatches, macros, archives, encrypted archives, HTML and scripts', async () => {
    const raw = await compose([
      { filename: 'invoice.pdf.exe', content: MZ, contentType: 'application/pdf' },
      { filename: 'report.docm', content: zip([{ name: 'word/document.xml', data: Buffer.from('<w/>') }]) },
      { filename: 'budget.docx', content: zip([{ name: '[Content_Types].xml', data: Buffer.from('<x/>') }, { name: 'word/vbaProject.bin', data: Buffer.from('vba') }]), contentType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' },
      { filename: 'photos.zip', content: zip([{ name: 'a.txt', data: Buffer.from('hello') }]) },
      { filename: 'secret.zip', content: zip([{ name: 'a.txt', data: Buffer.from('xxxxx') }], true) },
      { filename: 'login.html', content: Buffer.from('<html><form action="https://phish.example/x"></form></html>') },
      { filename: 'run.js', content: Buffer.from('WScript.Shell') },
      { filename: 'scan.pdf', content: PDF },
      { filename: 'photo.jpg', content: PNG, contentType: 'image/jpeg' },
      { filename: 'notes.pdf', content: PNG, contentType: 'application/pdf' },
      { filename: 'gift\u202Egpj.exe', content: MZ },
    ]);
    const m = await parseMime(raw);
    const flags = Object.fromEntries(m.attachments.map((a) => [a.filename, a.flags]));
    assert.deepEqual(flags['invoice.pdf.exe'], ['executable', 'double-extension', 'type-mismatch']);
    assert.deepEqual(flags['report.docm'], ['macro-office']);
    assert.deepEqual(flags['budget.docx'], ['macro-office']);
    assert.deepEqual(flags['photos.zip'], ['archive']);
    assert.deepEqual(flags['secret.zip'], ['archive', 'encrypted-archive']);
    assert.deepEqual(flags['login.html'], ['html']);
    assert.deepEqual(flags['run.js'], ['script']);
    assert.deepEqual(flags['scan.pdf'], []);
    assert.deepEqual(flags['photo.jpg'], [], 'a PNG called .jpg is still an image');
    assert.deepEqual(flags['notes.pdf'], ['type-mismatch']);
    assert.deepEqual(flags['gift\u202Egpj.exe'], ['executable', 'double-extension']);
    const inv = m.attachments.find((a) => a.filename === 'invoice.pdf.exe')!;
    assert.equal(inv.declaredType, 'application/pdf');
    assert.equal(inv.sniffedType, 'application/x-msdownload');
    assert.equal(inv.size, MZ.length);
    assert.equal(inv.sha256, createHash('sha256').update(MZ).digest('hex'));
    assert.equal(m.attachments.find((a) => a.filename === 'scan.pdf')!.sniffedType, 'application/pdf');
    assert.deepEqual(new Set(m.attachmentFlags), new Set(['executable', 'double-extension', 'type-mismatch', 'macro-office', 'archive', 'encrypted-archive', 'html', 'script']));
    // The same findings as symbols, one per flag with the file names (what the policy file weighs).
    const symbols = Object.fromEntries(mimeSymbols(m).map((x) => [x.symbol, x.options]));
    assert.deepEqual(Object.keys(symbols).sort(), ['MIME_ARCHIVE', 'MIME_DOUBLE_EXTENSION', 'MIME_ENCRYPTED_ARCHIVE', 'MIME_EXECUTABLE', 'MIME_HTML', 'MIME_MACRO_OFFICE', 'MIME_SCRIPT', 'MIME_TYPE_MISMATCH']);
    assert.deepEqual(symbols.MIME_DOUBLE_EXTENSION, ['invoice.pdf.exe', 'gift\u202Egpj.exe']);
    assert.deepEqual(symbols.MIME_MACRO_OFFICE, ['report.docm', 'budget.docx']);
  });

  it('a message with only harmless attachments is not dangerous', async () => {
    const m = await parseMime(await compose([{ filename: 'scan.pdf', content: PDF }, { filename: 'pic.png', content: PNG }]));
    assert.deepEqual(m.attachmentFlags, []);
    assert.deepEqual(m.attachments.map((a) => a.sniffedType), ['application/pdf', 'image/png']);
    assert.deepEqual(mimeSymbols(m), [], 'no finding, no symbol');
  });
});

const hdr = 'From: a@example.com\r\nTo: b@example.net\r\nDate: Mon, 6 Feb 2023 02:53:47 -0800\r\nMessage-ID: <m@example.com>\r\n';

describe('defects and limits', () => {
  it('RFC 6532 UTF-8 headers are decoded and tagged; 8-bit garbage in headers is a defect', async () => {
    const m = await parseMime(Buffer.from(`${hdr}Subject: Grüße aus Köln\r\n\r\nHallo\r\n`, 'utf8'));
    assert.equal(m.headers.subject, 'Grüße aus Köln');
    assert.ok(m.tags.includes('utf8-headers'));
    assert.deepEqual(m.defects, []);
    const bad = await parseMime(Buffer.concat([Buffer.from(`${hdr}Subject: caf`), Buffer.from([0xe9, 0xff]), Buffer.from('\r\n\r\nx\r\n')]));
    assert.ok(bad.defects.some((d) => d.code === 'non-utf8-header-bytes'));
  });

  it('unknown charsets and transfer encodings are flagged, the text still comes through', async () => {
    const m = await parseMime(Buffer.from(`${hdr}Subject: x\r\nContent-Type: text/plain; charset=x-no-such-charset\r\nContent-Transfer-Encoding: x-weird\r\n\r\nplain words\r\n`));
    assert.deepEqual(m.defects.map((d) => d.code).sort(), ['unknown-charset', 'unknown-transfer-encoding']);
    assert.match(m.text ?? '', /plain words/);
    assert.deepEqual(m.charsets, ['x-no-such-charset']);
  });

  it('missing boundaries: declared but absent, never declared, never closed', async () => {
    const absent = await parseMime(Buffer.from(`${hdr}Subject: x\r\nContent-Type: multipart/mixed; boundary="zzz"\r\n\r\n--other\r\n\r\nbody\r\n`));
    assert.ok(absent.defects.some((d) => d.code === 'missing-boundary'));
    const none = await parseMime(Buffer.from(`${hdr}Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nbody\r\n`));
    assert.ok(none.defects.some((d) => d.code === 'multipart-without-boundary'));
    const open = await parseMime(Buffer.from(`${hdr}Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n`));
    assert.deepEqual(open.defects.map((d) => d.code), ['missing-close-boundary']);
    assert.match(open.text ?? '', /hello/);
  });

  it('deep nesting stops at the depth limit, flagged, quickly', async () => {
    let body = 'Content-Type: text/plain\r\n\r\ninnermost\r\n';
    for (let i = 0; i < 200; i++) body = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}--b${i}--\r\n`;
    const t0 = Date.now();
    const m = await parseMime(Buffer.from(`${hdr}Subject: deep\r\n${body}`));
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(m.defects.some((d) => d.code === 'nesting-too-deep'));
    assert.ok(m.tags.includes('limits-exceeded'));
    assert.equal(m.depth, DEFAULT_LIMITS.maxDepth);
    assert.equal(m.headers.subject, 'deep', 'the header is still decoded');
  });

  it('huge header counts and sizes are cut at the limits', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const m = await parseMime(Buffer.from(`${hdr}Subject: many\r\n${many}\r\nbody\r\n`));
    assert.ok(m.defects.some((d) => d.code === 'too-many-headers'));
    assert.equal(m.headers.count, DEFAULT_LIMITS.maxHeaders);
    assert.equal(m.headers.subject, 'many');
    const big = await parseMime(Buffer.from(`${hdr}Subject: big\r\nX-Big: ${'a'.repeat(300 * 1024)}\r\n\r\nbody\r\n`));
    assert.ok(big.defects.some((d) => d.code === 'header-too-large'));
  });

  it('too many parts stop the walk at the parts limit', async () => {
    const parts = Array.from({ length: 700 }, (_, i) => `--p\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join('');
    const m = await parseMime(Buffer.from(`${hdr}Subject: parts\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n${parts}--p--\r\n`));
    assert.ok(m.defects.some((d) => d.code === 'too-many-parts'));
    assert.equal(m.parts, DEFAULT_LIMITS.maxParts);
  });
});

describe('round trip (fast-check)', () => {
  it('messages composed by nodemailer come back with the same subject, addresses, text and attachment hashes', async () => {
    const word = fc.stringMatching(/^[\p{L}\p{N}]{1,12}$/u);
    await fc.assert(
      fc.asyncProperty(
        fc.array(word, { minLength: 1, maxLength: 8 }),
        fc.array(word, { minLength: 1, maxLength: 40 }),
        fc.array(fc.record({ name: fc.stringMatching(/^[a-z0-9]{1,10}\.(bin|dat|txt)$/), content: fc.uint8Array({ minLength: 1, maxLength: 2000 }) }), { maxLength: 3 }),
        fc.constantFrom('a@example.com', 'üser@exämple.com', 'x.y+z@sub.example.org'),
        async (subjectWords, textWords, files, from) => {
          const subject = subjectWords.join(' ');
          const text = textWords.join(' ');
          const raw = await new MailComposer({ from: { name: 'Sénder Ñame', address: from }, to: 'b@example.net', subject, text, attachments: files.map((f) => ({ filename: f.name, content: Buffer.from(f.content), contentType: 'application/octet-stream' })) }).compile().build();
          const m = await parseMime(raw);
          assert.equal(m.headers.subject, subject);
          assert.equal(m.headers.from[0]?.name, 'Sénder Ñame');
          assert.equal(m.headers.from[0]?.address.normalize(), from.normalize());
          assert.equal((m.text ?? '').trim(), text);
          assert.deepEqual(m.attachments.map((a) => a.sha256), files.map((f) => createHash('sha256').update(f.content).digest('hex')));
          assert.deepEqual(m.attachments.map((a) => a.filename), files.map((f) => f.name));
          assert.deepEqual(m.defects, []);
        },
      ),
      { numRuns: 150 },
    );
  });
});
