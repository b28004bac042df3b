/** The DKIM signing stage's settings, from the environment (README "Configuration"). */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, envBool, envInt, loadEnv } from '../../runtime/config.ts';
import { KeyError, keyFromPem, loadKeyDir, normalizeDomain, type DkimKey } from './keys.ts';
import type { SenderRules } from './policy.ts';

export const DEFAULT_SIGN_HEADERS = [
  'From', 'To', 'Cc', 'Subject', 'Date', 'Message-ID', 'Reply-To', 'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding',
  'In-Reply-To', 'References', 'List-Id', 'List-Help', 'List-Unsubscribe', 'List-Unsubscribe-Post', 'List-Subscribe', 'List-Post',
  'List-Owner', 'List-Archive',
];

const headerList = z.string().transform((s, ctx) => {
  const names = s.split(/[,:]/).map((n) => n.trim()).filter(Boolean);
  const bad = names.find((n) => !/^[\x21-\x39\x3b-\x7e]+$/.test(n));
  if (bad !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${bad}" is not a header field name` });
  if (names.some((n) => n.toLowerCase() === 'dkim-signature')) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'DKIM-Signature cannot be signed by itself' });
  return names;
});

const keyEntries = z.string().transform((s, ctx) => {
  const out: { domain: string; selector: string; file: string }[] = [];
  for (const entry of s.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [domain, selector, ...rest] = entry.split(':');
    const file = rest.join(':');
    if (!domain || !selector || !file) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${entry}" is not domain:selector:/path/key.pem` });
      return z.NEVER;
    }
    out.push({ domain, selector, file });
  }
  return out;
});

const senderPattern = z.string().refine((p) => p === '*' || (p.includes('@') ? /^[^@\s]+@[^@\s]+$/.test(p) : normalizeDomain(p.replace(/^\*\./, '')) !== null), (p) => ({ message: `"${p}" is not "*", a domain, "*.domain" or an address` }));
const senderMap = z.record(z.string().min(1), z.array(senderPattern));
const senderJson = z.string().transform((s, ctx) => {
  try {
    return JSON.parse(s) as unknown;
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not JSON: ${(e as Error).message}` });
    return z.NEVER;
  }
}).pipe(senderMap);

const shape = {
  DKIM_KEY_DIR: z.string().optional(),
  DKIM_KEYS: keyEntries.optional(),
  DKIM_SENDERS: senderJson.optional(),
  DKIM_SENDERS_FILE: z.string().optional(),
  DKIM_ALLOW_OWN_ADDRESS: envBool().default('true'),
  DKIM_SIGN_HEADERS: headerList.default(DEFAULT_SIGN_HEADERS.join(',')),
  DKIM_OVERSIGN_HEADERS: headerList.default('From'),
  DKIM_AUID: z.enum(['none', 'domain', 'from']).default('none'),
  DKIM_TAG_ORDER: z.string().transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean)).pipe(z.array(z.enum(['v', 'a', 'c', 'd', 'h', 'i', 'l', 'q', 's', 't', 'x', 'z', 'bh', 'b']))).optional(),
  DKIM_H_SEPARATOR: z.enum(['colon', 'colon-space', 'spaced-colon']).default('colon-space'),
  DKIM_EXPIRE_SECONDS: envInt(0).default(0),
  DKIM_MIN_RSA_BITS: envInt(1024).default(1024),
  DKIM_PARENT_DOMAIN_KEYS: envBool().default('true'),
};

const help = {
  DKIM_KEY_DIR: 'directory of keys as <dir>/<domain>/<selector>.pem (what `scop dkim keygen` writes), e.g. DKIM_KEY_DIR=/etc/scop/dkim',
  DKIM_KEYS: 'comma-separated domain:selector:/path/key.pem entries, e.g. DKIM_KEYS=example.org:s2024:/etc/dkim/s2024.pem',
  DKIM_SENDERS: 'JSON object SMTP AUTH user → allowed From patterns ("*", "example.org", "*.example.org", "alice@example.org"), e.g. DKIM_SENDERS={"alice":["example.org"]}',
  DKIM_SENDERS_FILE: 'path to a JSON file in the DKIM_SENDERS format, e.g. DKIM_SENDERS_FILE=/etc/scop/senders.json',
  DKIM_ALLOW_OWN_ADDRESS: 'true/false: a user whose login is an address may send as exactly that address, e.g. DKIM_ALLOW_OWN_ADDRESS=true',
  DKIM_SIGN_HEADERS: 'comma-separated header field names to sign, e.g. DKIM_SIGN_HEADERS=From,To,Subject,Date,Message-ID',
  DKIM_OVERSIGN_HEADERS: 'comma-separated header field names to oversign (listed once more in h=), e.g. DKIM_OVERSIGN_HEADERS=From,Subject',
  DKIM_AUID: 'none (no i=), domain (i=@<d=>) or from (i= is the From address), e.g. DKIM_AUID=none',
  DKIM_TAG_ORDER: 'comma-separated DKIM-Signature tags in the order to write them (others follow), e.g. DKIM_TAG_ORDER=v,a,c,d,i,q,s,t,h,bh,b',
  DKIM_H_SEPARATOR: 'how names in h= are separated: colon (from:to), colon-space (from: to) or spaced-colon (from : to), e.g. DKIM_H_SEPARATOR=colon-space',
  DKIM_EXPIRE_SECONDS: 'x= this many seconds after t= (0: no x=), e.g. DKIM_EXPIRE_SECONDS=604800',
  DKIM_MIN_RSA_BITS: 'shortest RSA key the stage will sign with (RFC 8301: 1024), e.g. DKIM_MIN_RSA_BITS=2048',
  DKIM_PARENT_DOMAIN_KEYS: 'true/false: sign mail from a.example.org with example.org\'s key when a.example.org has none, e.g. DKIM_PARENT_DOMAIN_KEYS=true',
};

export interface DkimSignConfig {
  /** Domain → keys (at most one per algorithm). */
  keys: Map<string, DkimKey[]>;
  senders: SenderRules;
  signHeaders: string[];
  oversignHeaders: string[];
  auid: 'none' | 'domain' | 'from';
  /** DKIM-Signature tag order (undefined: mailauth's v a c d h i l q s t x z bh b). */
  tagOrder?: string[];
  /** Between the names in h=. */
  hSeparator: string;
  expireSeconds: number;
  parentDomainKeys: boolean;
}

export function loadDkimSignConfig(env: NodeJS.ProcessEnv = process.env): DkimSignConfig {
  const c = loadEnv(shape, help, env);
  const all: DkimKey[] = [];
  try {
    if (c.DKIM_KEY_DIR) all.push(...loadKeyDir(c.DKIM_KEY_DIR));
  } catch (e) {
    if (e instanceof KeyError) throw new ConfigError('DKIM_KEY_DIR', e.message, help.DKIM_KEY_DIR);
    throw e;
  }
  for (const k of c.DKIM_KEYS ?? []) {
    let pem: Buffer;
    try {
      pem = readFileSync(k.file);
    } catch (e) {
      throw new ConfigError('DKIM_KEYS', `cannot read ${k.file}: ${(e as Error).message}`, help.DKIM_KEYS);
    }
    try {
      all.push(keyFromPem(k.domain, k.selector, pem, k.file));
    } catch (e) {
      if (e instanceof KeyError) throw new ConfigError('DKIM_KEYS', e.message, help.DKIM_KEYS);
      throw e;
    }
  }
  const keys = new Map<string, DkimKey[]>();
  for (const k of all) {
    if (k.bits !== null && k.bits < c.DKIM_MIN_RSA_BITS) {
      throw new ConfigError(k.file.startsWith(c.DKIM_KEY_DIR ?? '\0') ? 'DKIM_KEY_DIR' : 'DKIM_KEYS', `${k.file} is a ${k.bits}-bit RSA key, shorter than DKIM_MIN_RSA_BITS=${c.DKIM_MIN_RSA_BITS}`, 'generate a longer one with `scop dkim keygen --type rsa` (2048 bits)');
    }
    const list = keys.get(k.domain) ?? [];
    const same = list.find((o) => o.algorithm === k.algorithm);
    if (same) {
      throw new ConfigError('DKIM_KEY_DIR', `two ${k.algorithm} keys for ${k.domain}: ${same.file} and ${k.file}`, 'keep one key per algorithm and domain (move the retired selector\'s key out of the key directory)');
    }
    list.push(k);
    // RSA first: its signature is the topmost field, for verifiers that look at one signature only.
    list.sort((a, b) => (a.algorithm === b.algorithm ? 0 : a.algorithm === 'rsa-sha256' ? -1 : 1));
    keys.set(k.domain, list);
  }
  let senders: Record<string, string[]> = c.DKIM_SENDERS ?? {};
  if (c.DKIM_SENDERS_FILE) {
    let text: string;
    try {
      text = readFileSync(c.DKIM_SENDERS_FILE, 'utf8');
    } catch (e) {
      throw new ConfigError('DKIM_SENDERS_FILE', `cannot read it: ${(e as Error).message}`, help.DKIM_SENDERS_FILE);
    }
    const parsed = senderJson.safeParse(text);
    if (!parsed.success) throw new ConfigError('DKIM_SENDERS_FILE', parsed.error.issues[0]!.message, help.DKIM_SENDERS_FILE);
    senders = { ...senders, ...parsed.data };
  }
  return {
    keys,
    senders: { users: senders, allowOwnAddress: c.DKIM_ALLOW_OWN_ADDRESS },
    signHeaders: c.DKIM_SIGN_HEADERS,
    oversignHeaders: c.DKIM_OVERSIGN_HEADERS,
    auid: c.DKIM_AUID,
    tagOrder: c.DKIM_TAG_ORDER,
    hSeparator: { colon: ':', 'colon-space': ': ', 'spaced-colon': ' : ' }[c.DKIM_H_SEPARATOR],
    expireSeconds: c.DKIM_EXPIRE_SECONDS,
    parentDomainKeys: c.DKIM_PARENT_DOMAIN_KEYS,
  };
}
