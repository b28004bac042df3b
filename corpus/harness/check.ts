/**
 * One message through the round trip: generate → encode → the pipeline's parse (parseMime,
 * which also gives mailparser's tree) → compare tree and section with the expected tree →
 * re-encode the parsed tree → parse again → compare again.
 */
import { analyseMime } from '../../processors/mime/parse.ts';
import { MAILPARSER_OPTIONS, parseMail, type ParsedWithTree } from '../../processors/mime/mailparser.ts';
import { compareEntity, type Disagreement } from '../src/compare.ts';
import { encodeMessage } from '../src/encode.ts';
import { expectedTexts, expectedTree } from '../src/expected.ts';
import { generateMessage, type GenerateOptions } from '../src/generate.ts';
import type { Entity } from '../src/model.ts';
import type { TreeMessage } from '../src/tree.ts';
import { documented, type Pass } from './known.ts';
import { MAILPARSER_CAPS, mailparserTree } from './mailparser.ts';
import { modelFromParse } from './reencode.ts';
import { compareSection } from './section.ts';

const PASS2_OPTIONS = { ...MAILPARSER_OPTIONS, skipHtmlToText: true };

/**
 * Faults injected by tests, to show that a broken parser or encoder comes out as mismatches (a
 * round trip that cannot fail proves nothing).
 */
export interface Faults {
  /** Changes the stage's parse before anything reads it (a parser that misreads). */
  parsed?: (p: ParsedWithTree) => void;
  /** Changes the model written from the parse before it is encoded again (an encoder that miswrites). */
  reencodeModel?: (model: Entity) => void;
}

export type { Pass };

export interface Finding {
  pass: Pass | (string & {});
  d: Disagreement;
  /** Id of the documented difference it is, or null for a mismatch. */
  known: string | null;
}

export interface Checked {
  index: number;
  id: string;
  size: number;
  findings: Finding[];
}

function failure(cls: string, e: unknown): Disagreement {
  return { class: cls, path: '', detail: (e as Error).message?.slice(0, 200) ?? String(e), expected: null, actual: null };
}

export async function checkMessage(seed: string, index: number, opts: Partial<GenerateOptions> = {}, faults: Faults = {}): Promise<Checked> {
  const g = generateMessage(seed, index, opts);
  const exp: TreeMessage = expectedTree(g);
  const findings: Finding[] = [];
  const add = (pass: Pass, list: Disagreement[]) => {
    for (const d of list) findings.push({ pass, d, known: documented(pass, d, exp) });
  };
  // The stage's parse, whole: its structural scan and mailparser with its options (html-to-text
  // included). Only what looks into the content once parsed, and that no comparison reads, is off:
  // the language guess, attachment sniffing and flags, URLs.
  const a = await analyseMime(g.encoded.bytes, { guessLanguage: false, contentChecks: false });
  if (!a.parsed) add('parse', [failure('parse.failed', new Error(a.section.defects.map((x) => x.code).join(', ') || 'no tree'))]);
  else {
    faults.parsed?.(a.parsed);
    add('parse', compareEntity(exp.root, mailparserTree(a.parsed), MAILPARSER_CAPS));
    add('section', compareSection(exp, a.section, expectedTexts(g.generated.root)));
    try {
      // Only the tree is compared: the HTML-to-text rendering, which the tree does not hold, is skipped.
      const model = modelFromParse(a.parsed);
      faults.reencodeModel?.(model);
      const again = await parseMail(encodeMessage(model).bytes, undefined, PASS2_OPTIONS);
      add('reencode', compareEntity(exp.root, mailparserTree(again), MAILPARSER_CAPS));
    } catch (e) {
      add('reencode', [failure('reencode.failed', e)]);
    }
  }
  return { index, id: exp.id, size: exp.size, findings };
}
