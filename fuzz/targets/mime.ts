/**
 * The MIME stage on raw message bytes: the structure scan (processors/mime/structure.ts), header
 * decoding and body decoding (mailparser, libmime, mailsplit), URL and language extraction, the
 * attachment description — parseMime(), without ClamAV.
 *
 * Invariants: parseMime never throws (a parser failure is a defect in the section); the section
 * fits the MimeSection Avro schema and survives an encode/decode round trip unchanged (it is
 * written into every record); every documented limit holds (parts, depth, defects, text/HTML
 * length, URLs, attachments); cost linear in the message (growth probe: the message repeated).
 */
import { isDeepStrictEqual } from 'node:util';
import { parseMime } from '../../processors/mime/parse.ts';
import { DEFAULT_LIMITS } from '../../processors/mime/structure.ts';
import { schema } from '../../schemas/index.ts';
import type { MimeSection } from '../../schemas/types.ts';
import { invariant, repeat } from '../harness/invariants.ts';
import { corpusMessages } from '../harness/mail-seeds.ts';
import { defineTarget } from '../harness/target.ts';

const L = DEFAULT_LIMITS;
const type = schema('MimeSection').type;

function firstDifference(a: unknown, b: unknown, path = ''): string {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return `${path || '(root)'}: ${JSON.stringify(a)?.slice(0, 80)} became ${JSON.stringify(b)?.slice(0, 80)}`;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = (a as Record<string, unknown>)[k];
    const y = (b as Record<string, unknown>)[k];
    if (!isDeepStrictEqual(x, y)) return firstDifference(x, y, `${path}.${k}`);
  }
  return path;
}

export function checkSection(section: MimeSection): void {
  invariant(type.isValid(section), () => {
    const paths: string[] = [];
    type.isValid(section, { errorHook: (p) => paths.push(p.join('.')) });
    return `section does not fit MimeSection at ${paths.slice(0, 3).join(', ')}`;
  });
  const back = type.fromBuffer(type.toBuffer(section)) as MimeSection;
  invariant(isDeepStrictEqual(JSON.parse(JSON.stringify(back)), JSON.parse(JSON.stringify(section))), () => `Avro round trip changed the section at ${firstDifference(section, back)}`);
  invariant(section.parts <= L.maxParts, () => `${section.parts} parts, limit ${L.maxParts}`);
  invariant(section.depth <= L.maxDepth, () => `depth ${section.depth}, limit ${L.maxDepth}`);
  invariant(section.defects.length <= 200, () => `${section.defects.length} defects`);
  invariant((section.text?.length ?? 0) <= L.maxTextChars, 'text over maxTextChars');
  invariant((section.html?.length ?? 0) <= L.maxHtmlChars, 'html over maxHtmlChars');
  invariant(section.urls.length <= L.maxUrls, () => `${section.urls.length} URLs`);
  invariant(section.attachments.length <= L.maxAttachments, () => `${section.attachments.length} attachments`);
  for (const list of [section.headers.from, section.headers.to, section.headers.cc, section.headers.replyTo, section.headers.sender]) {
    invariant(list.length <= 500, () => `${list.length} addresses in one header`);
  }
}

export default defineTarget({
  name: 'mime',
  about: 'MIME stage: structure scan, header and body decoding (mailparser), URLs, attachments',
  instrument: ['processors/mime/', 'node_modules/mailparser/', 'node_modules/mailsplit/', 'node_modules/libmime/', 'node_modules/libqp/', 'node_modules/libbase64/'],
  async: true,
  maxLen: 32 * 1024,
  dict: 'mime.dict',
  budgetMs: 1000,
  growth: { grow: repeat, bytes: 16 * 1024, every: 64 },
  seeds: (testdata) => (testdata ? corpusMessages(testdata, 32 * 1024) : []),
  async run(data) {
    checkSection(await parseMime(data, { now: () => 0 }));
  },
});
