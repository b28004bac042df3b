/**
 * The policy file (`SCOP_POLICY_FILE`, YAML): one file for the policy of every stage — today the
 * decision's weights, thresholds, forced actions and allow/block lists (processors/decision); a
 * stage with its own settings there adds its keys to POLICY_KEYS. Each stage validates its own keys
 * with zod; this module reads the file, refuses keys no stage owns, turns every problem into one
 * line naming the file, the line and the key, and follows the file so that a change is picked up
 * without a restart (each instance reads its own copy: see processors/decision/README.md).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './config.ts';
import type { Logger } from './log.ts';

/** The top-level keys and the stage that owns each: a key nobody owns is a typo, refused with its line. */
export const POLICY_KEYS = {
  use_defaults: 'decision', actions: 'decision', groups: 'decision', symbols: 'decision', force: 'decision',
  domains: 'decision', allow: 'decision', block: 'decision',
} as const;
export type PolicyKey = keyof typeof POLICY_KEYS;

/** A policy file is configuration, not data: anything bigger is a mistake. */
export const MAX_POLICY_BYTES = 1024 * 1024;
const FIX = 'see the policy file section of processors/decision/README.md';

export const policyFileFromEnv = (env: NodeJS.ProcessEnv): string | null => env.SCOP_POLICY_FILE?.trim() || null;

/** A parsed policy file: its data, and errors that point at a line. */
export class PolicyDocument {
  private constructor(readonly file: string, readonly text: string, readonly data: Record<string, unknown>, private readonly doc: Document, private readonly lines: LineCounter) {}

  /** SHA-256 of the text, first 16 hex digits. */
  get hash(): string {
    return createHash('sha256').update(this.text).digest('hex').slice(0, 16);
  }

  /** Parses YAML text; syntax errors, duplicate keys and unknown top-level keys throw a ConfigError with the line. */
  static parse(text: string, file: string): PolicyDocument {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const err = doc.errors[0];
    if (err) throw new ConfigError(`${file} line ${lines.linePos(err.pos[0]).line}`, err.message.split('\n')[0]!, 'fix the YAML syntax');
    const data = (doc.toJS() ?? {}) as unknown;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new ConfigError(file, 'the policy file must be a YAML mapping of keys', FIX);
    const self = new PolicyDocument(file, text, data as Record<string, unknown>, doc, lines);
    for (const key of Object.keys(data)) {
      if (!(key in POLICY_KEYS)) throw self.error([key], `unknown key "${key}"`, `use one of ${Object.keys(POLICY_KEYS).join(', ')}`);
    }
    return self;
  }

  /** Reads and parses a file (at most MAX_POLICY_BYTES). */
  static read(file: string): PolicyDocument {
    let text: string;
    try {
      const size = statSync(file).size;
      if (size > MAX_POLICY_BYTES) throw new Error(`${size} bytes, over the ${MAX_POLICY_BYTES}-byte limit`);
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError('SCOP_POLICY_FILE', `cannot read ${file}: ${(e as Error).message}`, 'point SCOP_POLICY_FILE at a readable YAML file, or unset it for the built-in policy');
    }
    return PolicyDocument.parse(text, file);
  }

  /** "line N" of the deepest node on `path` the file has (a key's own line for a mapping entry). */
  lineOf(path: readonly (string | number)[]): number | null {
    let node: unknown = this.doc.contents;
    let pos: number | undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === String(seg));
        if (!pair) break;
        pos = (pair.key as { range?: [number, number, number] } | null)?.range?.[0] ?? pos;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
        node = node.items[seg];
        pos = (node as { range?: [number, number, number] }).range?.[0] ?? pos;
      } else {
        break;
      }
    }
    return pos === undefined ? null : this.lines.linePos(pos).line;
  }

  /** A ConfigError naming the file, the line and the key path. */
  error(path: readonly (string | number)[], problem: string, fix = FIX): ConfigError {
    const line = this.lineOf(path);
    const key = path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
    return new ConfigError(`${this.file}${line === null ? '' : ` line ${line}`}`, `${key || '(top)'}: ${problem}`, fix);
  }

  /** Validates the keys a stage owns with its zod schema; the first issue becomes a located ConfigError. */
  section<T extends z.ZodTypeAny>(keys: readonly PolicyKey[], schema: T): z.infer<T> {
    const mine = Object.fromEntries(keys.filter((k) => k in this.data).map((k) => [k, this.data[k]]));
    const parsed = schema.safeParse(mine);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    const unknownKey = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys[0] : undefined;
    const path = unknownKey === undefined ? issue.path : [...issue.path, unknownKey];
    throw this.error(path, issue.message);
  }
}

export interface PolicyFollower {
  stop(): void;
}

/**
 * Calls `onChange` with the file's new document whenever its content changes (polled every
 * `intervalMs`: a stat per poll, a read only when size or time moved; editors that replace the file
 * are seen too). A file that does not parse is logged with its line and `onChange` is not called:
 * whoever follows keeps the policy it has.
 */
export function followPolicyFile(file: string, opts: { intervalMs: number; log: Logger; onChange(doc: PolicyDocument): void; onError?(e: Error): void }): PolicyFollower {
  let last = '';
  try { last = PolicyDocument.read(file).hash; } catch { /* the caller read it first; an error shows at the next change */ }
  const check = () => {
    let doc: PolicyDocument;
    try {
      doc = PolicyDocument.read(file);
    } catch (e) {
      opts.log.error({ file, err: (e as Error).message }, 'policy file changed but cannot be used; keeping the policy in use');
      opts.onError?.(e as Error);
      return;
    }
    if (doc.hash === last) return;
    last = doc.hash;
    try {
      opts.onChange(doc);
    } catch (e) {
      opts.log.error({ file, err: (e as Error).message }, 'policy file changed but is not valid; keeping the policy in use');
      opts.onError?.(e as Error);
    }
  };
  const listener = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) check();
  };
  watchFile(file, { interval: opts.intervalMs, persistent: false }, listener);
  // Only this listener: the auth and decision stages may follow the same file in one process.
  return { stop: () => unwatchFile(file, listener) };
}
