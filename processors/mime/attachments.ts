/**
 * Attachment description and policy: the type sniffed from magic numbers (file-type, bounded: sniff.ts), SHA-256,
 * and flags for content a mail filter should treat as dangerous. The flags are facts, not a
 * verdict; the decision stage weighs them.
 */
import { hash } from 'node:crypto';
import { sniffMime } from './sniff.ts';
import type { MimeAttachment } from '../../schemas/types.ts';

export const FLAGS = ['executable', 'script', 'double-extension', 'type-mismatch', 'macro-office', 'archive', 'encrypted-archive', 'html', 'virus'] as const;
export type AttachmentFlag = (typeof FLAGS)[number];

const EXECUTABLE_EXT = new Set(['exe', 'scr', 'com', 'pif', 'cpl', 'dll', 'sys', 'msi', 'msp', 'mst', 'jar', 'lnk', 'reg', 'application', 'gadget', 'msc', 'appx', 'appxbundle', 'msix', 'apk', 'dmg', 'pkg', 'deb', 'rpm', 'elf', 'bin', 'run', 'app', 'xll', 'iqy', 'slk', 'chm', 'hlp', 'inf', 'scf', 'url', 'settingcontent-ms']);
const SCRIPT_EXT = new Set(['js', 'jse', 'vbs', 'vbe', 'wsf', 'wsh', 'wsc', 'ps1', 'psm1', 'psd1', 'bat', 'cmd', 'hta', 'sh', 'bash', 'py', 'pl', 'rb', 'php', 'sct', 'vb', 'mjs', 'cjs', 'applescript', 'scpt']);
const MACRO_EXT = new Set(['docm', 'dotm', 'xlsm', 'xltm', 'xlam', 'pptm', 'potm', 'ppam', 'ppsm', 'sldm', 'xlsb']);
const ARCHIVE_EXT = new Set(['zip', 'rar', '7z', 'gz', 'tgz', 'bz2', 'xz', 'tar', 'cab', 'iso', 'img', 'vhd', 'vhdx', 'arj', 'lzh', 'ace', 'z', 'zst', 'r00', 'uue']);
const HTML_EXT = new Set(['htm', 'html', 'xhtml', 'shtml', 'mht', 'mhtml', 'svg', 'xht']);
/** Extensions people expect to be harmless documents: "invoice.pdf.exe" hides behind these. */
const DOC_EXT = new Set(['pdf', 'doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'txt', 'rtf', 'jpg', 'jpeg', 'png', 'gif', 'bmp', 'tif', 'tiff', 'csv', 'odt', 'ods', 'mp3', 'mp4', 'avi', 'mov', 'wav', 'zip', 'htm', 'html', 'eml', 'msg', 'xml', 'json']);

const EXECUTABLE_MIME = new Set(['application/x-msdownload', 'application/x-dosexec', 'application/vnd.microsoft.portable-executable', 'application/x-elf', 'application/x-mach-binary', 'application/x-executable', 'application/x-sharedlib', 'application/java-archive', 'application/x-ms-shortcut', 'application/x-msi', 'application/vnd.android.package-archive', 'application/x-apple-diskimage', 'application/x-ms-installer']);
const SCRIPT_MIME = new Set(['application/javascript', 'text/javascript', 'application/x-javascript', 'application/ecmascript', 'text/vbscript', 'application/x-vbscript', 'application/x-sh', 'application/x-shellscript', 'text/x-shellscript', 'application/x-bat', 'application/x-msdos-program', 'application/hta', 'application/x-powershell', 'text/x-python', 'application/x-python-code']);
const ARCHIVE_MIME = new Set(['application/zip', 'application/x-zip-compressed', 'application/x-rar-compressed', 'application/vnd.rar', 'application/x-7z-compressed', 'application/gzip', 'application/x-gzip', 'application/x-bzip2', 'application/x-xz', 'application/x-tar', 'application/vnd.ms-cab-compressed', 'application/x-iso9660-image', 'application/zstd', 'application/x-lzh-compressed', 'application/x-arj', 'application/x-ace-compressed', 'application/x-compress', 'application/x-lzip', 'application/x-cpio', 'application/x-rpm', 'application/x-deb', 'application/x-unix-archive', 'application/x-virtualbox-vhd', 'application/x-ms-vhdx']);
const HTML_MIME = new Set(['text/html', 'application/xhtml+xml', 'image/svg+xml', 'message/rfc822+html', 'multipart/related+html']);

/** Declared types that say nothing about the content, so a sniffed type never "mismatches" them. */
const GENERIC_MIME = new Set(['application/octet-stream', 'application/unknown', 'application/binary', 'application/x-download', 'application/force-download', 'binary/octet-stream', 'application/data']);

export function extensionsOf(filename: string | null): string[] {
  if (!filename) return [];
  const base = filename.replace(/[\u202a-\u202e\u2066-\u2069\u200e\u200f]/g, '').split(/[\\/]/).pop() ?? '';
  return base.split('.').slice(1).map((e) => e.trim().toLowerCase()).filter(Boolean);
}

/**
 * "photo.jpg   .scr", "invoice.pdf_____.exe": padding (three white-space characters or five
 * underscores) right before the last dot pushes the real extension out of sight. By index: the regex
 * it replaces, `/\s{3,}\.[^.]+$|_{5,}\.[^.]+$/`, is quadratic on a long run of either (a file name
 * can be as long as the header, 256 KiB).
 */
export function paddedBeforeExtension(filename: string): boolean {
  const dot = filename.lastIndexOf('.');
  if (dot < 0 || dot === filename.length - 1) return false;
  const before = filename.slice(Math.max(0, dot - 5), dot);
  return /^\s{3}$/.test(before.slice(-3)) || before === '_____';
}

/** Broad families, so image/jpg vs image/jpeg or a .docx declared as application/msword do not count as mismatches. */
function family(mime: string): string {
  const m = mime.toLowerCase();
  if (EXECUTABLE_MIME.has(m)) return 'executable';
  if (ARCHIVE_MIME.has(m)) return 'archive';
  if (m.startsWith('image/')) return 'image';
  if (m.startsWith('audio/')) return 'audio';
  if (m.startsWith('video/')) return 'video';
  if (m === 'application/pdf') return 'pdf';
  if (/msword|ms-excel|ms-powerpoint|officedocument|ms-office|opendocument|x-cfb|ms-word|ms-outlook|vnd\.ms-/.test(m)) return 'office';
  if (m.startsWith('text/') || m === 'application/xml' || m === 'application/json' || m === 'application/rtf') return 'text';
  if (m.startsWith('font/') || m.includes('font')) return 'font';
  return m;
}

/** OOXML (zip) with a VBA project, or OLE2 compound file with a VBA storage. */
function hasMacros(content: Buffer): boolean {
  const head = content.subarray(0, 8);
  if (head[0] === 0x50 && head[1] === 0x4b) return content.includes('vbaProject.bin') || content.includes('vbaProjectSignature.bin');
  if (head.equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]))) {
    return content.includes(Buffer.from('_VBA_PROJECT', 'utf16le')) || content.includes(Buffer.from('VBA', 'utf16le')) || content.includes(Buffer.from('Macros', 'utf16le'));
  }
  return false;
}

/** A zip whose local file headers set the "encrypted" flag (ZipCrypto or AES, APPNOTE 4.4.4 bit 0). */
function zipEncrypted(content: Buffer): boolean {
  let at = 0;
  for (let n = 0; n < 10000; n++) {
    const i = content.indexOf('PK\x03\x04', at, 'latin1');
    if (i < 0 || i + 8 > content.length) return false;
    if ((content.readUInt16LE(i + 6) & 0x0001) !== 0) return true;
    at = i + 4;
  }
  return false;
}

/** RAR 5 archive header encryption block, or RAR 4 with the encrypted-headers / per-file password flags. */
function rarEncrypted(content: Buffer): boolean {
  if (content.subarray(0, 8).equals(Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1'))) {
    // First header after the signature: CRC32 (4), then vint size, then vint type; type 4 = archive encryption header.
    let p = 12;
    while (p < content.length && (content[p]! & 0x80)) p++;
    return content[p + 1] === 4;
  }
  if (content.subarray(0, 7).equals(Buffer.from('Rar!\x1a\x07\x00', 'latin1'))) {
    const flags = content.readUInt16LE(7 + 3);
    if (flags & 0x0080) return true;
    const file = content.indexOf(Buffer.from([0x74]), 7 + 7);
    return file > 0 && file + 3 < content.length && (content.readUInt16LE(file + 1) & 0x0004) !== 0;
  }
  return false;
}

export interface AttachmentInput {
  filename: string | null;
  contentType: string;
  disposition: string | null;
  content: Buffer;
}

/** What the message says of an attachment and its bytes' hash, nothing looked into: no sniffed type, no flags. */
export function identifyAttachment(a: AttachmentInput): MimeAttachment {
  return {
    filename: a.filename,
    declaredType: (a.contentType || 'application/octet-stream').toLowerCase(),
    sniffedType: null,
    disposition: a.disposition,
    size: a.content.length,
    // One-shot hash: half the cost of createHash for the small bodies most attachments are.
    sha256: hash('sha256', a.content),
    flags: [],
    virus: null,
  };
}

/** identifyAttachment, and the type sniffed from the bytes (file-type, bounded: sniff.ts) with the flags of the policy. */
export async function describeAttachment(a: AttachmentInput): Promise<MimeAttachment> {
  const content = a.content;
  const declared = (a.contentType || 'application/octet-stream').toLowerCase();
  const exts = extensionsOf(a.filename);
  const ext = exts[exts.length - 1] ?? '';
  const flags = new Set<AttachmentFlag>();
  const sniffedMime = await sniffMime(content);

  const isExe = EXECUTABLE_EXT.has(ext) || EXECUTABLE_MIME.has(declared) || (sniffedMime !== null && EXECUTABLE_MIME.has(sniffedMime)) || content.subarray(0, 2).toString('latin1') === 'MZ' || content.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'));
  if (isExe) flags.add('executable');
  if (SCRIPT_EXT.has(ext) || SCRIPT_MIME.has(declared)) flags.add('script');
  if (HTML_EXT.has(ext) || HTML_MIME.has(declared) || sniffedMime === 'image/svg+xml' || sniffedMime === 'text/html') flags.add('html');
  if (MACRO_EXT.has(ext) || /macroenabled/i.test(declared) || hasMacros(content)) flags.add('macro-office');
  // OOXML/ODF documents are zip containers: a .docm that sniffs as zip is a document, not an archive.
  const officeContainer = MACRO_EXT.has(ext) || extFamily(ext) === 'office' && ext !== '' || family(declared) === 'office';
  const archive = ARCHIVE_EXT.has(ext) || ARCHIVE_MIME.has(declared) || (sniffedMime !== null && ARCHIVE_MIME.has(sniffedMime) && !officeContainer);
  if (archive) {
    flags.add('archive');
    if (zipEncrypted(content) || rarEncrypted(content)) flags.add('encrypted-archive');
  }
  // "invoice.pdf.exe", "photo.jpg   .scr", or a right-to-left override hiding the real extension.
  const dangerousExt = EXECUTABLE_EXT.has(ext) || SCRIPT_EXT.has(ext) || HTML_EXT.has(ext) || MACRO_EXT.has(ext);
  if (a.filename && /[\u202a-\u202e\u2066-\u2069]/.test(a.filename)) flags.add('double-extension');
  if (exts.length >= 2 && dangerousExt && DOC_EXT.has(exts[exts.length - 2]!)) flags.add('double-extension');
  if (a.filename && dangerousExt && paddedBeforeExtension(a.filename)) flags.add('double-extension');
  // Declared type (or the file name's extension) against the bytes.
  if (sniffedMime) {
    const f = family(sniffedMime);
    const declaredMismatch = !GENERIC_MIME.has(declared) && family(declared) !== f && !(f === 'archive' && family(declared) === 'office') && !(f === 'office' && family(declared) === 'archive');
    const extMismatch = ext !== '' && DOC_EXT.has(ext) && !['zip'].includes(ext) && extFamily(ext) !== f && !(f === 'archive' && extFamily(ext) === 'office');
    if (declaredMismatch || extMismatch) flags.add('type-mismatch');
  }
  return { ...identifyAttachment(a), sniffedType: sniffedMime, flags: FLAGS.filter((f) => flags.has(f)) };
}

function extFamily(ext: string): string {
  if (['jpg', 'jpeg', 'png', 'gif', 'bmp', 'tif', 'tiff'].includes(ext)) return 'image';
  if (['mp3', 'wav'].includes(ext)) return 'audio';
  if (['mp4', 'avi', 'mov'].includes(ext)) return 'video';
  if (ext === 'pdf') return 'pdf';
  if (['doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'odt', 'ods', 'msg'].includes(ext)) return 'office';
  return 'text';
}
