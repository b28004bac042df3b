/**
 * One mailparser run that gives both what the stage reads (simpleParser's result: headers, text,
 * html, attachments) and the part tree mailparser built on the way (`MailParser.tree`, which
 * simpleParser drops). The corpus round trip (corpus/harness) compares that tree with the
 * generator's expected tree, so the stage and the round trip parse the same way, once.
 *
 * The reading below is simpleParser's (mailparser/lib/simple-parser.js, 3.14.2): headers from the
 * 'headers' event, text/html from the 'text' object, attachments read to a Buffer then released,
 * the well-known header keys copied to the top. `tree` is an internal field of MailParser;
 * mailparser.test.ts fails if its shape changes on an upgrade.
 */
import { MailParser, type MailParserOptions as TypedOptions, type ParsedMail } from 'mailparser';

/** mailparser's options, with those its typings omit (passed on to mailsplit, or read by MailParser). */
export type MailParserOptions = TypedOptions & { defaultInlineEmbedded?: boolean; checksumAlgo?: string | false; skipHtmlToText?: boolean };

/**
 * How the stage runs mailparser. skipTextToHtml/skipImageLinks: we keep neither the HTML rendering
 * of text nor data: URIs. defaultInlineEmbedded: a message/rfc822 part without a disposition is
 * parsed as the message it is (its text is read, its attachments described), not kept as one
 * opaque file — forwarding a message hid its attachments from the policy (found by the corpus
 * round trip). A part marked `attachment` stays a file; parseMail parses inside it as well.
 * checksumAlgo false: no MD5 of every attachment, the stage hashes them itself (SHA-256).
 */
export const MAILPARSER_OPTIONS = { skipImageLinks: true, skipTextToHtml: true, maxHtmlLengthToParse: 4 * 1024 * 1024, defaultInlineEmbedded: true, checksumAlgo: false } as const;

/** Types whose attachments are messages, parsed in turn. */
export const MESSAGE_TYPES = new Set(['message/rfc822', 'message/global']);

/** Bounds on parsing attached messages inside attached messages (hostile input can nest them without end). */
export interface EmbeddedBudget {
  /** Levels of attached messages still allowed below this one. */
  depth: number;
  /** Attached messages still allowed in the whole message (shared). */
  left: { messages: number };
}

/** A node of MailParser.tree (the fields the round trip reads). */
export interface MailTreeNode {
  headerLines: { key: string; line: string }[];
  headers: Map<string, unknown>;
  contentType: string;
  children: MailTreeNode[];
  disposition?: string;
  charset?: string;
  isAttachment?: boolean;
  /** Decoded text of an inline text part, line ends as LF. */
  textContent?: string;
  /** mailsplit's node: transfer encoding as written, decoded file name, parsed as an embedded message. */
  node: { encoding?: string | false; filename?: string | false; messageNode?: boolean };
}

export interface ParsedWithTree {
  mail: ParsedMail;
  tree: MailTreeNode;
  /** Attachment contents in tree order (also in mail.attachments). */
  attachments: Buffer[];
  /** Attached messages (message/rfc822 attachments) parsed, by attachment index. */
  embedded: Map<number, ParsedWithTree>;
}

/**
 * Parses the message, then the messages attached to it within `budget`. `options` are the stage's;
 * the corpus round trip's second parse, which reads only the tree, adds skipHtmlToText.
 */
export async function parseMail(raw: Buffer, budget: EmbeddedBudget = { depth: 20, left: { messages: 100 } }, options: MailParserOptions = MAILPARSER_OPTIONS): Promise<ParsedWithTree> {
  const r = await parseOne(raw, options);
  for (let i = 0; i < r.mail.attachments.length; i++) {
    const a = r.mail.attachments[i]!;
    if (!MESSAGE_TYPES.has(a.contentType.toLowerCase()) || budget.depth <= 0 || budget.left.messages <= 0) continue;
    budget.left.messages--;
    r.embedded.set(i, await parseMail(r.attachments[i]!, { depth: budget.depth - 1, left: budget.left }, options));
  }
  return r;
}

/** Header keys simpleParser copies to the top, with the property names it gives them (camel case). */
const TOP_KEYS = ['subject', 'references', 'date', 'to', 'from', 'cc', 'bcc', 'message-id', 'in-reply-to', 'reply-to'].map((key) => [key, key.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())] as const);

function parseOne(raw: Buffer, options: MailParserOptions): Promise<ParsedWithTree> {
  return new Promise((resolve, reject) => {
    const parser = new MailParser(options);
    const mail = { attachments: [] } as unknown as Record<string, unknown> & { attachments: Record<string, unknown>[] };
    const contents: Buffer[] = [];
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      if (err) return reject(err);
      const tree = (parser as unknown as { tree: MailTreeNode | false }).tree;
      if (!tree) return reject(new Error('mailparser built no part tree'));
      resolve({ mail: mail as unknown as ParsedMail, tree, attachments: contents, embedded: new Map() });
    };
    parser.on('error', (e: Error) => settle(e));
    parser.on('headers', (headers: Map<string, unknown>) => {
      mail.headers = headers;
      mail.headerLines = (parser as unknown as { headerLines: unknown }).headerLines;
    });
    parser.on('data', (data: Record<string, unknown> & { type: string; content?: NodeJS.ReadableStream; release?: () => void }) => {
      if (data.type === 'text') {
        for (const k of ['text', 'html', 'textAsHtml', 'textConversionError']) if (k in data) mail[k] = data[k];
        return;
      }
      if (data.type !== 'attachment' || !data.content) return;
      const slot = contents.push(Buffer.alloc(0)) - 1;
      mail.attachments.push(data);
      const chunks: Buffer[] = [];
      data.content.on('data', (c: Buffer) => chunks.push(c));
      data.content.on('end', () => {
        contents[slot] = Buffer.concat(chunks);
        data.content = contents[slot] as unknown as NodeJS.ReadableStream;
        data.release?.();
      });
    });
    parser.on('end', () => {
      const headers = mail.headers as Map<string, unknown> | undefined;
      for (const [key, prop] of TOP_KEYS) if (headers?.has(key)) mail[prop] = headers.get(key);
      // simpleParser ends with updateImageLinks, which with skipImageLinks hands back the HTML as it is, false without one.
      if (typeof mail.html !== 'string') mail.html = false;
      settle(null);
    });
    parser.end(raw);
  });
}
