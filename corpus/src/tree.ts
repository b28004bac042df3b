/**
 * The expected tree: what a message means, as JSON. The generator writes it from the model; an
 * implementation under test writes its own parse in the same shape, and compare.ts says where the
 * two differ. schema/tree.schema.json is the same format as a JSON Schema.
 */

export interface TreeMailbox {
  /** Decoded display name; "" when there is none. A comment is never a display name. */
  name: string;
  /** addr-spec as written (quoted local part kept, Unicode domain kept). */
  address: string;
  /** The comment written after the address (`a@b (Jane)`), when there is one. */
  comment?: string;
}

export interface TreeGroup {
  /** Decoded group display name. */
  group: string;
  members: TreeMailbox[];
}

export type TreeAddress = TreeMailbox | TreeGroup;

export type FieldKind = 'text' | 'address' | 'date' | 'ids' | 'raw' | 'content';

export interface TreeField {
  /** Field name as written. */
  name: string;
  kind: FieldKind;
  /**
   * text: the decoded text (unfolded, RFC 2047 words decoded). raw: the value unfolded (CRLF
   * before whitespace removed), leading and trailing whitespace removed, nothing decoded. The other
   * kinds carry their meaning in addresses/date/ids, or (content) in the entity's fields.
   */
  value?: string;
  /** address: the mailboxes and groups. */
  addresses?: TreeAddress[];
  /** date: the instant, ISO 8601 in UTC with milliseconds. */
  date?: string;
  /** ids: each msg-id with its angle brackets. */
  ids?: string[];
}

export interface TreeText {
  /** Charset the bytes were decoded with (the part's charset parameter, us-ascii by default). */
  charset: string;
  /** UTF-8 size and SHA-256 of the decoded text with its line ends as LF. */
  size: number;
  sha256: string;
}

export interface TreeBody {
  /** Size and SHA-256 of the body after its transfer encoding is undone. */
  size: number;
  sha256: string;
  /** For text (text/*, the message/* report bodies): the decoded text. */
  text?: TreeText;
}

export interface TreeEntity {
  /** Position: "" for the message, "1", "2", "2.1", …; an embedded message is child 1 of its message/rfc822 part. */
  path: string;
  /** Every header field of the entity, in order. */
  headers: TreeField[];
  /** Media type, lower case, defaults applied (text/plain; message/rfc822 inside multipart/digest). */
  type: string;
  /** Content-Type parameters: names lower case, values decoded (RFC 2231 joined and decoded). */
  params: Record<string, string>;
  /** Content-Disposition type, lower case, or null without the field. */
  disposition: string | null;
  dispositionParams: Record<string, string>;
  /** Decoded file name: the disposition's filename, else the type's name, else null. */
  filename: string | null;
  /** Content-Transfer-Encoding, lower case; "7bit" without the field. */
  transferEncoding: string;
  /** Leaves and message/rfc822 parts (whose body is the embedded message as written). */
  body?: TreeBody;
  /** Multipart entities: the parts. */
  parts?: TreeEntity[];
  /** message/rfc822 and message/global: the embedded message. */
  message?: TreeEntity;
}

export interface TreeMessage {
  /** `<seed>-<index, 7 digits>`. */
  id: string;
  seed: string;
  index: number;
  /** `scop-mail-corpus@<generator version>`. */
  generator: string;
  /** Size and SHA-256 of the message bytes. */
  size: number;
  sha256: string;
  features: string[];
  root: TreeEntity;
}

/** Depth-first walk (an entity, then its parts or embedded message). */
export function* walk(e: TreeEntity, depth = 0): Generator<[TreeEntity, number]> {
  yield [e, depth];
  for (const p of e.parts ?? []) yield* walk(p, depth + 1);
  if (e.message) yield* walk(e.message, depth + 1);
}

export const isGroup = (a: TreeAddress): a is TreeGroup => 'group' in a;
