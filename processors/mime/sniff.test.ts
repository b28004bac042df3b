/**
 * Sniffing costs what the attachment's bytes cost, not what they inflate to or how deep they nest.
 * Before (file-type called directly): a 50 MB-inflated `[Content_Types].xml` zip entry cost
 * ~350-900 ms CPU and ~60 MB of heap, 1,000 nested gzip layers (26 KB) ~0.85 s, a 2 MB chain of empty
 * ID3 tags ~19 s (super-linear: 1 MB took 0.75 s). CPU time (not wall time) with thresholds several times what the fix costs and
 * several times under what the old code cost, so a loaded machine does not flip the result.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { fileTypeFromBuffer } from 'file-type';
import { describeAttachment } from './attachments.ts';
import { lastId3Tag, significantZipEntry, sniffMime, ZIP_ENTRY_MAX_BYTES } from './sniff.ts';

/** A zip of local headers only (file-type and our scan both walk them), each entry deflated or stored. */
function zip(entries: { name: string; data: Buffer; stored?: boolean; descriptor?: boolean }[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const body = e.stored ? e.data : deflateRawSync(e.data);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt16LE(e.descriptor ? 0x0008 : 0, 6);
    h.writeUInt16LE(e.stored ? 0 : 8, 8);
    h.writeUInt32LE(e.descriptor ? 0 : body.length, 18);
    h.writeUInt32LE(e.descriptor ? 0 : e.data.length, 22);
    h.writeUInt16LE(Buffer.byteLength(e.name), 26);
    out.push(h, Buffer.from(e.name), body);
    if (e.descriptor) {
      const d = Buffer.alloc(16);
      d.writeUInt32LE(0x08074b50, 0);
      d.writeUInt32LE(body.length, 8);
      d.writeUInt32LE(e.data.length, 12);
      out.push(d);
    }
  }
  return Buffer.concat(out);
}

const DOCX_TYPES = Buffer.from('<?xml version="1.0"?><Types><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>');
const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

/** What the stage runs per attachment (so the before/after comparison covers the call site). */
function describeBytes(content: Buffer) {
  return describeAttachment({ filename: 'x.docx', contentType: 'application/octet-stream', disposition: 'attachment', content });
}

function cpuMs(fn: () => Promise<unknown>): Promise<number> {
  const c0 = process.cpuUsage();
  return fn().then(() => {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  });
}

describe('sniffMime: containers read by file-type keep their types', () => {
  it('docx ([Content_Types].xml deflated, after other entries, with and without data descriptors)', async () => {
    const rels = { name: '_rels/.rels', data: Buffer.from('<Relationships/>'.repeat(50)) };
    assert.equal(await sniffMime(zip([{ name: '[Content_Types].xml', data: DOCX_TYPES }])), DOCX);
    assert.equal(await sniffMime(zip([rels, { name: '[Content_Types].xml', data: DOCX_TYPES }])), DOCX);
    assert.equal(await sniffMime(zip([{ ...rels, descriptor: true }, { name: '[Content_Types].xml', data: DOCX_TYPES, descriptor: true }])), DOCX);
  });

  it('odt (stored mimetype), jar (manifest), apk (classes.dex), plain zip, gzip, png', async () => {
    assert.equal(await sniffMime(zip([{ name: 'mimetype', data: Buffer.from('application/vnd.oasis.opendocument.text'), stored: true }])), 'application/vnd.oasis.opendocument.text');
    assert.equal(await sniffMime(zip([{ name: 'META-INF/MANIFEST.MF', data: Buffer.from('Manifest-Version: 1.0\n') }])), 'application/java-archive');
    assert.equal(await sniffMime(zip([{ name: 'AndroidManifest.xml', data: Buffer.alloc(100) }, { name: 'classes2.dex', data: Buffer.alloc(100) }])), 'application/vnd.android.package-archive');
    assert.equal(await sniffMime(zip([{ name: 'a.txt', data: Buffer.from('hello') }])), 'application/zip');
    assert.equal(await sniffMime(gzipSync(Buffer.from('hello'))), 'application/gzip');
    assert.equal(await sniffMime(Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')), 'image/png');
    assert.equal(await sniffMime(Buffer.alloc(0)), null);
  });

  it('an ID3 chain answers what the data after it is, as file-type does', async () => {
    const tag = (size: number) => Buffer.concat([Buffer.from('ID3\x03\x00\x00\x00\x00\x00', 'latin1'), Buffer.from([size]), Buffer.alloc(size)]);
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const chain = Buffer.concat([tag(5), tag(0), tag(7), png]);
    assert.equal(lastId3Tag(chain), 15 + 10);
    assert.equal(await sniffMime(chain), 'image/png');
    // Same answers as file-type on the edges: a tag running past the end, a truncated header, a lone tag.
    for (const edge of [Buffer.concat([tag(0), tag(9)]).subarray(0, 25), Buffer.concat([tag(0), tag(0)]).subarray(0, 19), tag(3), Buffer.concat([tag(0), tag(0), Buffer.from('GIF89a')])]) {
      assert.equal(await sniffMime(edge), (await fileTypeFromBuffer(edge).catch(() => undefined))?.mime ?? null, edge.toString('hex'));
    }
  });
});

describe('sniffMime: bounded on hostile containers', () => {
  it('a zip-bomb [Content_Types].xml (50 MB inflated) is not inflated past the cap', async () => {
    const bomb = zip([{ name: '[Content_Types].xml', data: Buffer.alloc(50 * 1024 * 1024) }]);
    assert.equal(significantZipEntry(bomb), null, `over ${ZIP_ENTRY_MAX_BYTES} bytes: not handed to file-type`);
    const ms = await cpuMs(() => describeBytes(bomb));
    assert.ok(ms < 100, `${ms.toFixed(1)} ms CPU (was ~350)`);
    assert.equal(await sniffMime(bomb), 'application/zip');
  });

  it('a zip-bomb stored or deflated mimetype entry is capped too', async () => {
    const big = zip([{ name: 'mimetype', data: Buffer.alloc(ZIP_ENTRY_MAX_BYTES + 1), stored: true }]);
    assert.equal(significantZipEntry(big), null);
    const ok = zip([{ name: 'mimetype', data: Buffer.alloc(ZIP_ENTRY_MAX_BYTES), stored: false }]);
    assert.equal(significantZipEntry(ok)?.data.length, ZIP_ENTRY_MAX_BYTES);
  });

  it('1,000 nested gzip layers are answered from the magic bytes', async () => {
    let nested = Buffer.from('x');
    for (let i = 0; i < 1000; i++) nested = gzipSync(nested, { level: 1 });
    const ms = await cpuMs(() => describeBytes(nested));
    assert.ok(ms < 150, `${ms.toFixed(1)} ms CPU (was ~850)`);
  });

  it('a 2 MB chain of empty ID3 tags costs a scan, not 200,000 detector runs', async () => {
    const chain = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i + 10 <= chain.length; i += 10) chain.write('ID3\x03', i, 'latin1');
    const ms = await cpuMs(() => describeBytes(chain));
    assert.ok(ms < 400, `${ms.toFixed(1)} ms CPU (was ~19,000)`);
  });
});
