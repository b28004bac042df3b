/**
 * Bounded content-type sniffing. file-type reads magic numbers, but for two containers it does
 * unbounded work on attacker bytes (file-type 21.3):
 * - gzip: it inflates the stream to look for a tar inside, and the inflated bytes go through the
 *   whole detector again, so gzip-in-gzip recurses once per layer (~20 bytes each): 52 KB of
 *   nested gzip cost 1.7 s of CPU. Both answers are `application/gzip`, so we answer from the
 *   magic bytes and never hand gzip to file-type.
 * - zip: it inflates a `mimetype` or `[Content_Types].xml` entry whole, with no output limit
 *   (a 200 KB zip made 254 MB of heap and 1.3 s of CPU; a 25 MiB message could ask for ~20 GB).
 *   We find the entry file-type would read ourselves (local headers, in order, linear), inflate it
 *   with an output cap, and hand file-type a one-entry stored zip, so its own name → type table
 *   (docx, odt, epub, jar, apk, xpi) still decides.
 * - ID3: it skips an ID3 tag and runs the whole detector again on what follows, once per tag; a
 *   chain of empty 10-byte tags grows super-linearly (1 MB: 0.75 s, 2 MB: 19 s; random bytes: 5 ms/MB). We skip all
 *   but the last tag of a chain (the same arithmetic as file-type), which gives the same answer.
 * Everything else goes to file-type unchanged.
 */
import { constants, inflateRawSync } from 'node:zlib';
import { fileTypeFromBuffer } from 'file-type';

/** Largest inflated entry we give file-type; real `[Content_Types].xml` files are a few KiB. */
export const ZIP_ENTRY_MAX_BYTES = 256 * 1024;
/** Local headers looked at before giving up (the same bound as the encrypted-zip check). */
const ZIP_MAX_ENTRIES = 10_000;

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
const ZIP_LOCAL = Buffer.from('PK\x03\x04', 'latin1');
const ZIP_DESCRIPTOR = Buffer.from('PK\x07\x08', 'latin1');
/** Entry names file-type's zip detector acts on (core.js `ZipHandler(...).unzip` callback). */
const READ_ENTRIES = new Set(['mimetype', '[Content_Types].xml']);
const NAMED_ENTRIES = new Set(['META-INF/mozilla.rsa', 'META-INF/MANIFEST.MF']);
const DEX = /^classes\d*\.dex$/;

export async function sniffMime(content: Buffer): Promise<string | null> {
  if (content.length === 0) return null;
  if (content.subarray(0, 3).equals(GZIP_MAGIC)) return 'application/gzip';
  if (content.subarray(0, 4).equals(ZIP_LOCAL)) {
    const entry = significantZipEntry(content);
    if (!entry) return 'application/zip';
    content = storedZip(entry.name, entry.data);
  }
  content = content.subarray(lastId3Tag(content));
  const sniffed = await fileTypeFromBuffer(content).catch(() => undefined);
  return sniffed?.mime ?? null;
}

const ID3 = Buffer.from('ID3', 'latin1');

/** Offset of the last ID3 tag of the chain at the start of content (0 when there is none or one). */
export function lastId3Tag(content: Buffer): number {
  let at = 0;
  for (;;) {
    if (at + 10 > content.length || !content.subarray(at, at + 3).equals(ID3)) return at;
    // file-type's uint32SyncSafeToken (util.js), the tag's size after its 10-byte header.
    const size = (content[at + 9]! & 0x7f) | (content[at + 8]! << 7) | (content[at + 7]! << 14) | (content[at + 6]! << 21);
    const next = at + 10 + size;
    // The tag runs past the end (file-type answers audio/mpeg), or no tag follows: hand over this one.
    if (next > content.length || !content.subarray(next, next + 3).equals(ID3)) return at;
    at = next;
  }
}

interface ZipEntry { name: string; data: Buffer }

/**
 * The first local-header entry whose name file-type acts on, its data inflated to at most
 * ZIP_ENTRY_MAX_BYTES. Null when there is none, or when its data is over the cap or unreadable
 * (file-type would then have answered `application/zip` or failed).
 */
export function significantZipEntry(content: Buffer): ZipEntry | null {
  let at = 0;
  for (let n = 0; n < ZIP_MAX_ENTRIES; n++) {
    const i = content.indexOf(ZIP_LOCAL, at);
    if (i < 0 || i + 30 > content.length) return null;
    const flags = content.readUInt16LE(i + 6);
    const method = content.readUInt16LE(i + 8);
    const compressedSize = content.readUInt32LE(i + 18);
    const nameEnd = i + 30 + content.readUInt16LE(i + 26);
    const dataStart = nameEnd + content.readUInt16LE(i + 28);
    if (dataStart > content.length) return null;
    const name = content.toString('utf8', i + 30, nameEnd);
    // Sizes in a trailing data descriptor (flag bit 3): the data runs to the descriptor.
    const sizeUnknown = (flags & 0x0008) !== 0 && compressedSize === 0;
    const dataEnd = sizeUnknown ? endOfUnsizedData(content, dataStart) : Math.min(content.length, dataStart + compressedSize);
    if (NAMED_ENTRIES.has(name) || DEX.test(name)) return { name, data: Buffer.alloc(0) };
    if (READ_ENTRIES.has(name)) {
      const data = entryData(method, content.subarray(dataStart, dataEnd));
      return data ? { name, data } : null;
    }
    at = Math.max(dataEnd, i + 4);
  }
  return null;
}

function endOfUnsizedData(content: Buffer, from: number): number {
  const d = content.indexOf(ZIP_DESCRIPTOR, from);
  return d < 0 ? content.length : d;
}

function entryData(method: number, raw: Buffer): Buffer | null {
  if (method === 0) return raw.length <= ZIP_ENTRY_MAX_BYTES ? raw : null;
  if (method !== 8) return null;
  try {
    // maxOutputLength makes zlib stop (RangeError) at the cap instead of inflating a bomb whole.
    return inflateRawSync(raw, { maxOutputLength: ZIP_ENTRY_MAX_BYTES, finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    return null;
  }
}

/** A one-entry zip, stored (method 0), so file-type reads the entry without inflating anything. */
function storedZip(name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const header = Buffer.alloc(30);
  ZIP_LOCAL.copy(header, 0);
  header.writeUInt16LE(20, 4);
  header.writeUInt32LE(data.length, 18);
  header.writeUInt32LE(data.length, 22);
  header.writeUInt16LE(nameBytes.length, 26);
  return Buffer.concat([header, nameBytes, data]);
}
