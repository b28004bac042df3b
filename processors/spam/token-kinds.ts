/**
 * Which tokens are words (body text, subject words, addresses and long-word summaries written in the
 * text) and which describe the message's structure (headers, relay, MIME, HTML, URLs, attachments,
 * auth). The tokenizer writes every structure token with one of these prefixes; words have none,
 * or `subject:` / `skip:` / `8bit:` / `email:`. Training treats the two kinds differently
 * (general.ts: words-only copies; model.ts: a per-kind influence cap), so it must be able to tell
 * them apart without re-tokenizing. tokenizer.test.ts checks that a message's structure tokens all
 * carry a prefix listed here.
 */
const STRUCTURE_PREFIXES = [
  'attachment:', 'auth:', 'body:', 'cc:', 'charset:', 'content-transfer-encoding:', 'content-type:', 'date:', 'from:', 'header:', 'html:',
  'lang:', 'mailer:', 'mailer+message-id:', 'message-id:', 'mime:', 'mime-defect:', 'mime-version:', 'organization:', 'origin:', 'priority:',
  'received:', 'relay:', 'reply-to:', 'to:', 'url:',
];

/** Subject tokens that describe its shape, not its words (tokenizer headerTokens / shapeTokens; a subject word spelt the same, e.g. `money`, counts as shape: harmless). */
const SUBJECT_SHAPE = /^subject:(?:len:|none$|re$|fwd$|all-caps$|exclamation$|money$|trailing-id$|re-unthreaded$|trailing-short$|digits$|8bit$)/;

export function isWordToken(token: string): boolean {
  const colon = token.indexOf(':');
  if (colon < 0) return true;
  const head = token.slice(0, colon + 1);
  if (head === 'subject:') return !SUBJECT_SHAPE.test(token);
  return !STRUCTURE_PREFIXES.includes(head);
}

/**
 * A link's registered domain (`url:example.com`; not `url:tld:…`, `url:p:…` or the other URL tokens):
 * which site, not how the link is made. The default model leaves these out of training (general.ts
 * `urlDomains`); the learner learns them from feedback.
 */
export function isUrlDomainToken(token: string): boolean {
  return token.startsWith('url:') && token.indexOf(':', 4) < 0 && token.includes('.');
}
