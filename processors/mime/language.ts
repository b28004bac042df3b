/**
 * The language guess of the MIME stage: franc-min's answer (`franc(sample, { minLength, only })`),
 * computed from franc-min's own data in about a tenth of the time.
 *
 * franc cost ~0.4 ms per message on the 400-character sample (a fifth of the MIME stage on the
 * bench's corpus messages, bench/README.md "CPU per message of the fused inbound process"): for every
 * call it builds the sample's trigrams as an object, sorts them into tuples, and then looks each one
 * up in every allowed language's trigram object. Here the allowed languages' trigrams are indexed
 * once, by trigram, as one row of ranks per script (a Map lookup per distinct trigram of the sample,
 * not one per trigram and language), and the sample's trigrams are counted in a Map without sorting
 * (the distance is a sum, so their order never mattered). Same script detection, same cleaning, same
 * distance, same tie-break (the first language in franc-min's data order): `language.test.ts`
 * checks the answer against franc itself on every SpamAssassin corpus message and on text in
 * every script franc knows.
 */
import { data } from 'franc-min/data.js';
import { expressions } from 'franc-min/expressions.js';

/** franc's constants: the longest sample it reads, and the distance of a trigram a language lacks. */
const MAX_LENGTH = 2048;
const MAX_DIFFERENCE = 300;

interface ScriptIndex {
  /** The allowed languages of the script, in franc-min's data order. */
  languages: string[];
  /** trigram → its rank in each language's model (by index in `languages`), -1 where the model lacks it. */
  ranks: Map<string, Int32Array>;
}

export interface LanguageGuesser {
  /** franc(value, { minLength, only }): an ISO 639-3 code, or 'und'. */
  guess(value: string): string;
}

/** franc-min's `clean` (trigram-utils): ASCII punctuation and digits to spaces, white space collapsed, trimmed, lower case. */
function clean(value: string): string {
  return value.replace(/[\u0021-\u0040]+/g, ' ').replace(/\s+/g, ' ').trim().toLowerCase();
}

/** The script whose characters occur the most (the first of equals in franc-min's order), and its share. */
function topScript(value: string): [string | undefined, number] {
  let top: string | undefined;
  let topCount = -1;
  for (const [script, expression] of Object.entries(expressions)) {
    const count = (value.match(expression)?.length ?? 0) / value.length || 0;
    if (count > topCount) {
      topCount = count;
      top = script;
    }
  }
  return [top, topCount];
}

export function languageGuesser(o: { minLength: number; only: readonly string[] }): LanguageGuesser {
  const allowed = (language: string) => o.only.length === 0 || o.only.includes(language);
  const scripts = new Map<string, ScriptIndex>();
  for (const [script, languages] of Object.entries(data)) {
    const names = Object.keys(languages).filter(allowed);
    const ranks = new Map<string, Int32Array>();
    names.forEach((name, li) => {
      const model = languages[name]!.split('|');
      // As franc builds its models: from the last trigram to the first, so a repeated one keeps its first rank.
      for (let rank = model.length - 1; rank >= 0; rank--) {
        let row = ranks.get(model[rank]!);
        if (!row) ranks.set(model[rank]!, (row = new Int32Array(names.length).fill(-1)));
        row[li] = rank;
      }
    });
    scripts.set(script, { languages: names, ranks });
  }

  return {
    guess(input) {
      if (!input || input.length < o.minLength) return 'und';
      const value = input.slice(0, MAX_LENGTH);
      const [script, share] = topScript(value);
      const index = script === undefined ? undefined : scripts.get(script);
      if (!index) return !script || share === 0 || !allowed(script) ? 'und' : script;
      if (index.languages.length === 0) return 'und';
      // The sample's trigrams (n-gram of ' ' + clean + ' ') with their counts.
      const padded = ` ${clean(value)} `;
      const counts = new Map<string, number>();
      for (let i = 0; i + 3 <= padded.length; i++) {
        const t = padded.slice(i, i + 3);
        counts.set(t, (counts.get(t) ?? 0) + 1);
      }
      const distances = new Array<number>(index.languages.length).fill(0);
      for (const [t, count] of counts) {
        const row = index.ranks.get(t);
        for (let li = 0; li < distances.length; li++) {
          const rank = row ? row[li]! : -1;
          distances[li]! += rank < 0 ? MAX_DIFFERENCE : Math.abs(count - rank - 1);
        }
      }
      // franc sorts ascending (stable): the first of the smallest in data order.
      let best = 0;
      for (let li = 1; li < distances.length; li++) if (distances[li]! < distances[best]!) best = li;
      return index.languages[best]!;
    },
  };
}
