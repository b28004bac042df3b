/**
 * The spam stage's tokenizer (processors/spam/tokenizer.ts, html.ts) and the raw header fields it
 * reads (input.ts rawFields), on hostile field values: subject, bodies, addresses, Date,
 * Message-ID, Received lines, the raw header block, URLs.
 *
 * Invariants: no exception; deterministic (the same input gives the same tokens in the same order);
 * at most LIMITS.maxTokens distinct tokens; no token carries a recipient's address or a collection
 * mark (the artifact guarantees in the spam README); cost linear in the input (growth probe: every
 * field repeated).
 */
import { rawFields, type SpamInput } from '../../processors/spam/input.ts';
import { DEFAULT_LIMITS as LIMITS, tokenize } from '../../processors/spam/tokenizer.ts';
import { Fields, growFields, joinFields } from '../harness/fields.ts';
import { invariant } from '../harness/invariants.ts';
import { corpusMessages, headerAndBody, headerField } from '../harness/mail-seeds.ts';
import { defineTarget } from '../harness/target.ts';

const COLLECTION_MARKS = /zzzz|yyyy|qqqq|taint\.org|netnoteinc|jmason|slashnull|webnote\.net|example\.(com|org|net|sourceforge)|localhost/;

/** Field order of an input (NUL-separated). */
enum F { Subject, Text, Html, FromName, FromAddress, Date, MessageId, Received1, Received2, RawHeader, Url1, Url2, To, ClientIp, Helo }

function inputOf(data: Buffer): SpamInput {
  const f = new Fields(data);
  const received = [f.utf8(F.Received1), f.utf8(F.Received2)].filter(Boolean);
  const urls = [f.utf8(F.Url1), f.utf8(F.Url2)].filter(Boolean);
  const flags = f.byte(F.To);
  return {
    subject: f.length > F.Subject ? f.utf8(F.Subject) : null,
    from: [{ name: f.utf8(F.FromName), address: f.utf8(F.FromAddress) }],
    replyTo: flags & 1 ? [{ name: '', address: f.utf8(F.FromAddress) }] : [],
    to: [{ name: '', address: f.utf8(F.To) }],
    cc: [],
    messageId: f.utf8(F.MessageId) || null,
    inReplyTo: null,
    date: f.utf8(F.Date) || null,
    received,
    fields: rawFields(f.bytes(F.RawHeader)),
    text: f.utf8(F.Text) || null,
    html: f.utf8(F.Html) || null,
    urls,
    attachments: [],
    charsets: [],
    defects: [],
    parts: 1,
    depth: 0,
    languages: [],
    envelope: f.utf8(F.ClientIp) ? { clientIp: f.utf8(F.ClientIp), clientHostname: null, helo: f.utf8(F.Helo), mailFrom: '', rcptTo: [f.utf8(F.To)] } : null,
    auth: null,
  };
}

export default defineTarget({
  name: 'spam-tokenizer',
  about: 'spam tokenizer + HTML-to-text + raw header fields, on hostile field values',
  instrument: ['processors/spam/', 'node_modules/tldts/', 'node_modules/entities/'],
  async: false,
  maxLen: 16 * 1024,
  dict: 'spam.dict',
  budgetMs: 500,
  // Probed often: the tokenizer is where the super-linear regexes were (seeds in fuzz/seeds/spam-tokenizer/ have their shapes).
  growth: { grow: growFields, bytes: 16 * 1024, every: 8 },
  *seeds(testdata) {
    if (!testdata) return;
    for (const s of corpusMessages(testdata, 64 * 1024)) {
      const { header, body } = headerAndBody(s.data);
      const html = /<html|<body|<p>|<div/i.test(body) ? body : '';
      const from = headerField(header, 'from');
      const addr = /<([^>]*)>/.exec(from)?.[1] ?? from;
      yield {
        name: s.name,
        data: joinFields([
          headerField(header, 'subject'), html ? '' : body, html, from.replace(/<[^>]*>/, '').trim(), addr, headerField(header, 'date'),
          headerField(header, 'message-id'), headerField(header, 'received'), '', header, '', '', headerField(header, 'to'), '', '',
        ]),
      };
    }
  },
  run(data) {
    const input = inputOf(data);
    const tokens = tokenize(input);
    invariant(tokens.length <= LIMITS.maxTokens, () => `${tokens.length} tokens, limit ${LIMITS.maxTokens}`);
    const again = tokenize(inputOf(data));
    invariant(again.length === tokens.length && again.every((t, i) => t === tokens[i]), 'tokenize is not deterministic');
    const recipients = [input.to[0]!.address, ...(input.envelope?.rcptTo ?? [])].map((a) => a.toLowerCase()).filter((a) => a.includes('@'));
    for (const t of tokens) {
      invariant(!COLLECTION_MARKS.test(t), () => `token ${JSON.stringify(t)} carries a collection mark`);
      for (const r of recipients) invariant(!t.includes(r), () => `token ${JSON.stringify(t)} carries the recipient ${r}`);
    }
  },
});
