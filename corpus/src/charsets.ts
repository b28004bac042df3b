/**
 * Charsets the generator writes text in, and the characters each can carry.
 *
 * Encoding goes through iconv-lite. A charset's repertoire is a fixed candidate pool filtered to
 * the characters whose encoding round-trips both in iconv-lite and in the WHATWG decoder (Node's
 * TextDecoder) for that label: where the two tables disagree (Shift_JIS's wave dash, Big5's
 * extensions) the decoded text a message "means" is not well defined, so such characters are
 * never generated. ASCII punctuation that national variants redefine (`\` and `~`) is left out of
 * every text for the same reason.
 */
import iconv from 'iconv-lite';

export interface Charset {
  /** The label written in messages (its case varies in generated messages). */
  label: string;
  /** How common it is among generated texts. */
  weight: number;
  /** Script family, for naming words. */
  family: string;
  /** Multi-byte (a character may take more than one byte). */
  multibyte: boolean;
}

export const CHARSETS: readonly Charset[] = [
  { label: 'UTF-8', weight: 30, family: 'any', multibyte: true },
  { label: 'US-ASCII', weight: 6, family: 'ascii', multibyte: false },
  { label: 'ISO-8859-1', weight: 8, family: 'latin', multibyte: false },
  { label: 'ISO-8859-2', weight: 2, family: 'latin', multibyte: false },
  { label: 'ISO-8859-3', weight: 0.5, family: 'latin', multibyte: false },
  { label: 'ISO-8859-4', weight: 0.5, family: 'latin', multibyte: false },
  { label: 'ISO-8859-5', weight: 1, family: 'cyrillic', multibyte: false },
  { label: 'ISO-8859-6', weight: 0.5, family: 'arabic', multibyte: false },
  { label: 'ISO-8859-7', weight: 1, family: 'greek', multibyte: false },
  { label: 'ISO-8859-8', weight: 0.5, family: 'hebrew', multibyte: false },
  { label: 'ISO-8859-9', weight: 1, family: 'latin', multibyte: false },
  { label: 'ISO-8859-10', weight: 0.5, family: 'latin', multibyte: false },
  { label: 'ISO-8859-13', weight: 0.5, family: 'latin', multibyte: false },
  { label: 'ISO-8859-14', weight: 0.5, family: 'latin', multibyte: false },
  { label: 'ISO-8859-15', weight: 2, family: 'latin', multibyte: false },
  { label: 'ISO-8859-16', weight: 0.5, family: 'latin', multibyte: false },
  { label: 'windows-1250', weight: 1, family: 'latin', multibyte: false },
  { label: 'windows-1251', weight: 2, family: 'cyrillic', multibyte: false },
  { label: 'windows-1252', weight: 4, family: 'latin', multibyte: false },
  { label: 'windows-1253', weight: 0.5, family: 'greek', multibyte: false },
  { label: 'windows-1254', weight: 0.5, family: 'latin', multibyte: false },
  { label: 'windows-1255', weight: 0.5, family: 'hebrew', multibyte: false },
  { label: 'windows-1256', weight: 0.5, family: 'arabic', multibyte: false },
  { label: 'windows-1257', weight: 0.5, family: 'latin', multibyte: false },
  { label: 'windows-1258', weight: 0.5, family: 'latin', multibyte: false },
  { label: 'KOI8-R', weight: 2, family: 'cyrillic', multibyte: false },
  { label: 'KOI8-U', weight: 0.5, family: 'cyrillic', multibyte: false },
  { label: 'TIS-620', weight: 0.5, family: 'thai', multibyte: false },
  { label: 'Shift_JIS', weight: 4, family: 'japanese', multibyte: true },
  { label: 'EUC-JP', weight: 2, family: 'japanese', multibyte: true },
  { label: 'GB2312', weight: 2, family: 'chinese', multibyte: true },
  { label: 'GBK', weight: 2, family: 'chinese', multibyte: true },
  { label: 'GB18030', weight: 3, family: 'any', multibyte: true },
  { label: 'Big5', weight: 2, family: 'chinese', multibyte: true },
  { label: 'EUC-KR', weight: 2, family: 'korean', multibyte: true },
  { label: 'ks_c_5601-1987', weight: 0.5, family: 'korean', multibyte: true },
];

/** ASCII printable characters safe in every charset above (no `\` or `~`). */
export const ASCII_SAFE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((c) => c !== '\\' && c !== '~');

function range(from: number, to: number, step = 1): string[] {
  const out: string[] = [];
  for (let c = from; c <= to; c += step) out.push(String.fromCodePoint(c));
  return out;
}

/** Candidate non-ASCII characters; each charset keeps those it encodes unambiguously. */
const POOL: readonly string[] = [
  ...range(0xa1, 0xff).filter((c) => c !== '\u00ad'), // Latin-1 (no soft hyphen: invisible, often dropped)
  ...range(0x100, 0x17f), // Latin Extended-A
  ...range(0x218, 0x21b), // Romanian comma-below letters (ISO-8859-16)
  ...range(0x386, 0x3ce), // Greek
  ...range(0x401, 0x45f), // Cyrillic
  ...range(0x490, 0x491), // Ukrainian ghe with upturn
  ...range(0x5d0, 0x5ea), // Hebrew letters
  ...range(0x621, 0x64a), // Arabic letters
  ...range(0xe01, 0xe3a), // Thai
  ...range(0x1e02, 0x1e6b, 3), // Latin Extended Additional (ISO-8859-14)
  ...range(0x1ea0, 0x1ef9, 2), // Vietnamese
  ...'€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ'.split(''), // windows-125x specials
  ...range(0x3041, 0x3093), // Hiragana
  ...range(0x30a1, 0x30f6), // Katakana
  ...range(0x4e00, 0x9fa5, 29), // CJK unified ideographs, sampled
  ...'日本語中文字漢國學生電話時間東京北京上海大阪한국어'.split(''),
  ...range(0xac00, 0xd7a3, 37), // Hangul syllables, sampled
  ...range(0x1f600, 0x1f64f, 5), // emoji (UTF-8 and GB18030 only)
  ...range(0x20000, 0x2a6d6, 4111), // CJK extension B (supplementary plane)
];

/**
 * Byte ranges of the national standards behind the multi-byte labels. iconv-lite and the WHATWG
 * decoders read GB2312 as GBK, EUC-KR as CP949, Shift_JIS as CP932 and Big5 as Big5-HKSCS; a
 * character from those supersets written under the narrower label is invalid for a strict
 * decoder (Python's gb2312 rejects it), so the repertoire keeps to the standard's own rows.
 */
const STRICT: Record<string, (b: Buffer) => boolean> = {
  gb2312: (b) => b.every((x) => x >= 0xa1 && x <= 0xfe),
  'euc-kr': (b) => b.every((x) => x >= 0xa1 && x <= 0xfe),
  'ks_c_5601-1987': (b) => b.every((x) => x >= 0xa1 && x <= 0xfe),
  'euc-jp': (b) => b.length === 2 && b.every((x) => x >= 0xa1 && x <= 0xfe),
  shift_jis: (b) => b.length === 1 || (b[0]! >= 0x81 && b[0]! <= 0x84) || (b[0]! >= 0x88 && b[0]! <= 0x9f) || (b[0]! >= 0xe0 && b[0]! <= 0xea),
  big5: (b) => b.length === 2 && b[0]! >= 0xa4 && b[0]! <= 0xf9,
};

/**
 * Characters the tables of iconv-lite and WHATWG map one way and Python's codecs another (EUC-JP
 * row 13's 淲, GB2312's middle dot, accented n and dashes, GBK's single-byte euro), found by
 * encoding every repertoire with both; left out as ambiguous.
 */
const AMBIGUOUS: Record<string, string> = { 'euc-jp': '淲', gb2312: '·ńň—', gbk: '€' };

const cache = new Map<string, string[]>();

function decoderFor(label: string): TextDecoder | null {
  try {
    return new TextDecoder(label, { fatal: true });
  } catch {
    return null;
  }
}

/** Non-ASCII characters `label` encodes and both decoders give back unchanged. */
export function repertoire(label: string): string[] {
  const hit = cache.get(label);
  if (hit) return hit;
  const key = label.toLowerCase();
  const known = cache.get(key);
  if (known) {
    cache.set(label, known);
    return known;
  }
  let out: string[];
  if (key === 'us-ascii') out = [];
  else if (key === 'utf-8') out = [...POOL];
  else {
    const td = decoderFor(key);
    out = POOL.filter((ch) => {
      const bytes = iconv.encode(ch, key);
      if (iconv.decode(bytes, key) !== ch) return false;
      if (STRICT[key] && !STRICT[key](bytes)) return false;
      if (AMBIGUOUS[key]?.includes(ch)) return false;
      if (!td) return true;
      try {
        return td.decode(bytes) === ch;
      } catch {
        return false;
      }
    });
  }
  cache.set(key, out);
  cache.set(label, out);
  return out;
}

export function encodeText(text: string, label: string): Buffer {
  const key = label.toLowerCase();
  if (key === 'utf-8' || key === 'us-ascii') return Buffer.from(text, 'utf8');
  return iconv.encode(text, key);
}

export function decodeText(bytes: Buffer, label: string): string {
  return iconv.decode(bytes, label.toLowerCase());
}

/** The label with its case varied the way real mail varies it. */
export function writtenLabel(label: string, style: number): string {
  switch (style % 4) {
    case 1:
      return label.toLowerCase();
    case 2:
      return label.toUpperCase();
    default:
      return label;
  }
}
