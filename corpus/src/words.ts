/** Word sources for headers and bodies: an ASCII lexicon, and words drawn from a charset's repertoire. */
import { ASCII_SAFE, repertoire } from './charsets.ts';
import type { Rng } from './random.ts';

export const LEXICON = (
  'the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not ' +
  'what all were we when your can said there use an each which she do how their if will up other about out many then ' +
  'them these so some her would make like him into time has look two more write go see number no way could people my ' +
  'than first water been call who oil its now find long down day did get come made may part invoice report meeting ' +
  'project budget quarter update review draft contract payment shipment order account password security notice ' +
  'team schedule agenda minutes release server backup network license renewal offer discount newsletter welcome ' +
  'hello thanks regards question answer summary details attached document photo travel hotel flight ticket'
).split(' ');

const TLDS = ['example', 'example.com', 'example.org', 'example.net', 'test', 'invalid', 'mail.example.com', 'lists.example.org'];
const IDN_DOMAINS = ['bücher.example', '例え.テスト', 'почта.example', 'mañana.example.com', 'δοκιμή.example', '한국.example'];
export const DOMAIN_LABELS = ['mail', 'mx', 'smtp', 'corp', 'acme', 'globex', 'initech', 'umbrella', 'hooli', 'vandelay', 'wayne', 'stark'];

export function asciiWord(rng: Rng): string {
  return rng.pick(LEXICON);
}

/** A word of 1–8 characters from `charset`'s non-ASCII repertoire, sometimes mixed with ASCII letters. */
export function nativeWord(rng: Rng, charset: string): string {
  const rep = repertoire(charset);
  if (rep.length === 0) return asciiWord(rng);
  let w = '';
  const n = rng.int(1, 8);
  for (let i = 0; i < n; i++) w += rng.chance(0.8) ? rng.pick(rep) : String.fromCharCode(rng.int(97, 122));
  return w;
}

/** Any printable ASCII, for text that will be encoded or quoted (`=`, `?`, `_`, quotes included). */
const PUNCT = ASCII_SAFE.filter((c) => c !== ' ');

export function punctWord(rng: Rng): string {
  let w = '';
  const n = rng.int(1, 6);
  for (let i = 0; i < n; i++) w += rng.pick(PUNCT);
  return w;
}

export function domain(rng: Rng, idn: boolean): string {
  if (idn && rng.chance(0.5)) return rng.pick(IDN_DOMAINS);
  const base = `${rng.pick(DOMAIN_LABELS)}.${rng.pick(TLDS)}`;
  return rng.chance(0.3) ? `${rng.pick(DOMAIN_LABELS)}.${base}` : base;
}

export function localPart(rng: Rng, utf8: boolean): string {
  if (utf8 && rng.chance(0.4)) return rng.pick(['josé', 'müller', '用户', 'пользователь', 'δοκιμή', 'ユーザー', 'françois.dupont']);
  const a = rng.pick(LEXICON);
  switch (rng.int(0, 5)) {
    case 0:
      return a;
    case 1:
      return `${a}.${rng.pick(LEXICON)}`;
    case 2:
      return `${a}+${rng.pick(LEXICON)}`;
    case 3:
      return `${a}_${rng.int(1, 999)}`;
    case 4:
      return `${a}-${rng.pick(LEXICON)}${rng.int(0, 99)}`;
    default:
      return `${a}${rng.int(1, 9999)}`;
  }
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function alnum(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[rng.int(0, ALNUM.length - 1)];
  return s;
}
