/**
 * The feedback hook: a small authenticated HTTP endpoint in the learner process through which a
 * mail server reports labels, e.g. Dovecot's imapsieve when a user moves a message into or out of
 * Junk (imap/). `POST /feedback` with `Authorization: Bearer <token>` and a JSON body
 * `{"recordId": "…", "label": "spam"|"ham", "user": "bob@example.net"}` writes the label to
 * spam.feedback with source `<token name>:<user>` — so SPAM_LEARNER_TRUSTED_SOURCES and the
 * per-source rate limit apply to it like to any label. 202 when Kafka has it.
 *
 * Tokens: SPAM_LEARNER_HOOK_TOKENS_FILE holds `name:<SHA-256 hex of the token>` lines (mode 0600;
 * `scop spam hook-token <name>` adds one and prints the token once). Tokens are 32 random bytes,
 * so a fast hash suffices; comparison is constant-time and every entry is compared.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { readCredentials, writeCredentials } from '../../../runtime/credentials-file.ts';
import type { KafkaClient } from '../../../runtime/kafka.ts';
import type { Logger } from '../../../runtime/log.ts';
import { sendFeedback } from '../../../runtime/operator/feedback.ts';
import type { RecordCodec } from '../../../runtime/registry.ts';

const MAX_BODY_BYTES = 4096;

const Body = z.object({
  recordId: z.string().min(1).max(200).regex(/^[A-Za-z0-9._-]+$/),
  label: z.enum(['ham', 'spam']),
  user: z.string().max(200).regex(/^[^\s:]*$/).optional(),
  messageId: z.string().max(998).optional(),
});

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Adds a token named `name` to the file and returns it (shown once; only its hash is kept). */
export function addHookToken(file: string, name: string): string {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(name)) throw new Error(`token name "${name}": lower-case letters, digits and dashes, e.g. imap`);
  const token = randomBytes(32).toString('base64url');
  const tokens = readCredentials(file);
  tokens.set(name, sha256(token).toString('hex'));
  writeCredentials(file, tokens, 'spam learner feedback hook tokens: name:<sha256 hex of the token> (scop spam hook-token <name>)');
  return token;
}

/** The name of the token presented, or null. Every entry is compared, in constant time each. */
export function tokenName(tokens: ReadonlyMap<string, string>, presented: string): string | null {
  const h = sha256(presented);
  let found: string | null = null;
  for (const [name, hex] of tokens) {
    const want = Buffer.from(hex, 'hex');
    if (want.length === h.length && timingSafeEqual(want, h) && found === null) found = name;
  }
  return found;
}

export interface FeedbackHook {
  address: string;
  close(): Promise<void>;
}

export async function startFeedbackHook(o: {
  kafka: KafkaClient; codec: RecordCodec; log: Logger; host: string; port: number; tokensFile: string; feedbackTopic: string;
}): Promise<FeedbackHook> {
  const tokens = readCredentials(o.tokensFile);
  if (tokens.size === 0) throw new Error(`SPAM_LEARNER_HOOK_TOKENS_FILE: no tokens in ${o.tokensFile}; add one with \`scop spam hook-token imap\` or set SPAM_LEARNER_HOOK_PORT=off`);
  const reply = (res: ServerResponse, status: number, body: object) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/feedback') return reply(res, 404, { error: 'POST /feedback' });
    const auth = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(req.headers.authorization ?? '');
    const name = auth ? tokenName(tokens, auth[1]!) : null;
    if (!name) {
      o.log.warn({ remote: req.socket.remoteAddress }, 'feedback hook: refused a request without a valid token');
      req.resume();
      return reply(res, 401, { error: 'a valid bearer token is required' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY_BYTES) return reply(res.setHeader('connection', 'close'), 413, { error: `body over ${MAX_BODY_BYTES} bytes` });
      chunks.push(c as Buffer);
    }
    let body: z.infer<typeof Body>;
    try {
      body = Body.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    } catch (e) {
      return reply(res, 400, { error: e instanceof z.ZodError ? e.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : 'invalid JSON' });
    }
    const source = `${name}:${body.user || 'unknown'}`;
    await sendFeedback(o.kafka, o.codec, { recordId: body.recordId, label: body.label, at: Date.now(), source, messageId: body.messageId ?? null }, o.feedbackTopic);
    o.log.info({ recordId: body.recordId, label: body.label, source }, 'feedback hook: label written');
    reply(res, 202, { ok: true });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      o.log.error({ err: (e as Error).message }, 'feedback hook: could not write the label');
      if (!res.headersSent) reply(res, 503, { error: 'the label could not be written; try again' });
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxHeadersCount = 50;
  await new Promise<void>((ok, fail) => { server.once('error', fail); server.listen(o.port, o.host, () => ok()); });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.address}:${a.port}`,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}
