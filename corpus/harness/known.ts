/**
 * Documented differences of the pipeline's parser from the expected tree: each is named, explained
 * in corpus/README.md ("Round trip"), and recognised narrowly (by class and by what the message
 * holds), so that anything else is still a mismatch.
 */
import { normalizeAddress, type Disagreement } from '../src/compare.ts';
import { isGroup, walk, type TreeEntity, type TreeField, type TreeMessage } from '../src/tree.ts';
import type { MailAddress } from '../../schemas/types.ts';

/** parse: the parsed tree; section: the stage's section; reencode: the tree after encoding the parse again. */
export type Pass = 'parse' | 'section' | 'reencode';

export interface KnownDifference {
  id: string;
  summary: string;
  matches(pass: Pass, d: Disagreement, exp: TreeMessage): boolean;
}

const entityAt = (exp: TreeMessage, path: string): TreeEntity | undefined => {
  for (const [e] of walk(exp.root)) if (e.path === path) return e;
  return undefined;
};

/** Comments written after the addresses of a field. */
function comments(f: TreeField | undefined): string[] {
  const out: string[] = [];
  for (const a of f?.addresses ?? []) for (const m of isGroup(a) ? a.members : [a]) if (m.comment !== undefined) out.push(m.comment);
  return out;
}

/** The display name was empty and the parser took the address's comment for it: `a@b (Comment)`. */
function commentAsName(fieldComments: string[], expected: string, actual: unknown): boolean {
  return expected === '' && typeof actual === 'string' && actual !== '' && fieldComments.includes(actual);
}

const SECTION_ADDRESS = new Set(['section.from', 'section.sender', 'section.reply-to', 'section.to', 'section.cc']);

export const KNOWN: KnownDifference[] = [
  {
    id: 'comment-as-name',
    summary: 'mailparser (nodemailer addressparser) reads the comment of a nameless address as its display name: `a@b (Jane)` gives name "Jane"',
    matches(_pass, d, exp) {
      if (d.class === 'address.name') {
        const field = entityAt(exp, d.path)?.headers.find((f) => f.name === d.detail);
        return commentAsName(comments(field), d.expected as string, d.actual);
      }
      if (SECTION_ADDRESS.has(d.class)) {
        const want = d.expected as MailAddress[];
        const got = d.actual as MailAddress[];
        const raw = exp.root.headers.filter((f) => f.name.toLowerCase() === d.detail).flatMap(comments);
        return want.length === got.length && want.every((w, i) => {
          const g = got[i]!;
          return normalizeAddress(w.address) === normalizeAddress(g.address) && w.group === g.group && (w.name === g.name || commentAsName(raw, w.name, g.name));
        });
      }
      return false;
    },
  },
];

export function documented(pass: Pass, d: Disagreement, exp: TreeMessage): string | null {
  for (const k of KNOWN) if (k.matches(pass, d, exp)) return k.id;
  return null;
}
