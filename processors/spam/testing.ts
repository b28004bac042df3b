/** Test helpers: a SpamInput / MailRecord with a MIME section built by hand (processors never import the MIME stage). */
import type { MailRecord, MimeSection } from '../../schemas/types.ts';
import type { SpamInput } from './input.ts';
import type { BayesModel } from './model.ts';
import type { BoundedTokenizer, SpamState } from './service.ts';

export function spamInput(over: Partial<SpamInput> = {}): SpamInput {
  return {
    subject: 'Lunch on Friday?', from: [{ name: 'Alice Example', address: 'alice@corp.test' }], replyTo: [], to: [{ name: '', address: 'bob@corp.test' }], cc: [],
    messageId: '<123@corp.test>', inReplyTo: null, date: 'Fri, 1 Aug 2025 10:00:00 +0000', received: [], fields: { 'content-type': 'text/plain; charset=utf-8', 'mime-version': '1.0', to: 'bob@corp.test' },
    text: 'Shall we meet at noon at the usual place? The new menu looks good.', html: null, urls: [], attachments: [], charsets: ['utf-8'], defects: [], parts: 1, depth: 0, languages: ['eng'],
    envelope: null, auth: null, ...over,
  };
}

export function mimeSection(over: Partial<MimeSection> & { subject?: string; from?: string } = {}): MimeSection {
  const { subject, from, ...rest } = over;
  return {
    stageVersion: 'test', parsedAt: 0, tags: ['has-text'],
    headers: {
      from: [{ name: '', address: from ?? 'alice@corp.test', group: null }], sender: [], replyTo: [], to: [{ name: '', address: 'bob@corp.test', group: null }], cc: [],
      subject: subject ?? 'hello', date: null, dateParsed: null, messageId: '<1@corp.test>', inReplyTo: null, returnPath: null, list: {}, received: [],
      authenticationResults: [], count: 5, bytes: 100,
    },
    text: 'hello there', html: null, textTruncated: false, htmlTruncated: false, urls: [], languages: [], charsets: [], parts: 1, depth: 0,
    defects: [], attachments: [], attachmentFlags: [], scan: null, ...rest,
  } as MimeSection;
}

/** A record as the auth stage writes it (mime section set, auth null). */
export function withMime(record: MailRecord, mime: MimeSection): MailRecord {
  return { ...record, mime };
}

/** Token sets of the per-domain tests: ordinary ham, ordinary spam, and a newsletter a small model has never seen. */
export const TEST_TOKENS = {
  ham: (i: number) => ['meeting', 'agenda', 'minutes', 'thanks', `ham${i}`],
  spam: (i: number) => ['viagra', 'cheap', 'click', 'winner', `spam${i}`],
  news: (i: number) => ['weekly', 'digest', 'unsubscribe', 'deals', 'thanks', `issue${i}`],
};

/** A small linear (formatVersion 2) model trained on TEST_TOKENS ham and spam. */
export async function linearTestModel(): Promise<BayesModel> {
  const { train } = await import('./evaluate.ts');
  return train(Array.from({ length: 20 }, (_, i) => (i % 2 ? { tokens: TEST_TOKENS.spam(i), label: 'spam' as const } : { tokens: TEST_TOKENS.ham(i), label: 'ham' as const })));
}

/** A spam stage state around one model, for calling process() without a broker (typed: a new state field fails to compile here, not at run time in each test). */
export async function spamStateFor(model: BayesModel, tokenizer: BoundedTokenizer, version = 'test-model'): Promise<SpamState> {
  const { spamMetrics } = await import('./service.ts');
  const { Registry } = await import('prom-client');
  return { active: { model, version }, domains: new Map(), metrics: spamMetrics(new Registry()), tokenizer, follower: { caughtUp: Promise.resolve(), refused: 0, stop: async () => undefined } };
}
