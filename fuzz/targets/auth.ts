/**
 * The authentication stage's verifyMessage (processors/auth/verify.ts): DKIM-Signature and
 * ARC-* header parsing, DKIM key / SPF / DMARC / BIMI record parsing (mailauth, via the functions
 * the stage calls), SPF evaluation and the Authentication-Results it writes. DNS is a stub that
 * answers from a zone in the input, so the fuzzer controls every record.
 *
 * Input fields (NUL-separated): the message; the zone, one record a line ("name value" is TXT,
 * "name A|AAAA|MX|PTR|CNAME value" the others); client IP (as text, or 4/16 raw bytes); HELO name;
 * MAIL FROM. HELO and MAIL FROM come without CR, LF and NUL, as smtp-server hands them over.
 *
 * Invariants: verifyMessage never throws on what a sender or a DNS zone controls; the section fits
 * the AuthSection schema and survives an Avro round trip; Authentication-Results and Received-SPF
 * are well-formed header values (no line break other than CRLF + white space, no NUL: no header
 * injection from records or signatures); results are the RFC words; cost linear (growth probe:
 * header fields and body repeated, which also multiplies DKIM signatures).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { DnsError, type DnsResolver, type ResolveFn, type RrValue } from '../../processors/auth/dns.ts';
import { verifyMessage } from '../../processors/auth/verify.ts';
import { schema } from '../../schemas/index.ts';
import type { AuthSection } from '../../schemas/types.ts';
import { Fields, joinFields, splitFields } from '../harness/fields.ts';
import { invariant } from '../harness/invariants.ts';
import { headerAndBody } from '../harness/mail-seeds.ts';
import { defineTarget, type Seed } from '../harness/target.ts';
import { filesUnder } from '../../runtime/testdata.ts';

const NOW = new Date('2024-06-01T00:00:00Z');
const type = schema('AuthSection').type;
const SPF_RESULTS = ['pass', 'fail', 'softfail', 'neutral', 'none', 'permerror', 'temperror'];
const TYPES = new Set(['A', 'AAAA', 'MX', 'PTR', 'CNAME', 'NS', 'TXT']);

function zoneResolver(zoneText: string): ResolveFn {
  const zone = new Map<string, string[]>();
  for (const line of zoneText.split(/\r?\n/)) {
    const m = /^(\S+)\s+(?:(A|AAAA|MX|PTR|CNAME|NS|TXT)\s+)?(.*)$/.exec(line.trim());
    if (!m) continue;
    const key = `${m[2] ?? 'TXT'} ${m[1]!.toLowerCase().replace(/\.$/, '')}`;
    zone.set(key, [...(zone.get(key) ?? []), m[3]!]);
  }
  return async (name: string, rrtype: string): Promise<RrValue> => {
    const t = rrtype.toUpperCase();
    const values = zone.get(`${t} ${name.toLowerCase().replace(/\.$/, '')}`);
    if (!TYPES.has(t) || !values) throw new DnsError('ENOTFOUND', name, rrtype);
    if (t === 'TXT') return values.map((v) => [v]);
    if (t === 'MX') return values.map((v) => ({ priority: Number(/^\d+/.exec(v)?.[0] ?? 10), exchange: v.replace(/^\d+\s+/, '') }));
    return values;
  };
}

/** The client address as the ingress records it: a socket's address, never free text. */
function clientIp(field: Buffer): string {
  const text = field.toString('latin1');
  if (isIP(text)) return text;
  if (field.length === 4) return [...field].join('.');
  if (field.length === 16) return [...Array(8).keys()].map((i) => field.readUInt16BE(2 * i).toString(16)).join(':');
  return '192.0.2.10';
}

const smtpArg = (s: string) => s.replace(/[\r\n\0]/g, '');

function checkHeaderValue(name: string, v: string): void {
  invariant(!/\r(?!\n)|(?<!\r)\n|\r\n(?![ \t])|\0/.test(v), () => `${name} is not a well-formed header value: ${JSON.stringify(v.slice(0, 300))}`);
}

/** Header lines repeated k times and the body k times: more signatures over a longer body. */
function growMessage(data: Buffer, k: number): Buffer {
  const parts = splitFields(data);
  const { header, body } = headerAndBody(parts[0] ?? Buffer.alloc(0));
  const grown = `${Array.from({ length: k }, () => header).join('\r\n')}\r\n\r\n${body.repeat(k)}`;
  return joinFields([Buffer.from(grown, 'latin1'), ...parts.slice(1)]);
}

export default defineTarget({
  name: 'auth',
  about: 'SPF/DKIM/DMARC/ARC/BIMI verification: signature headers and DNS records from a zone in the input',
  instrument: ['processors/auth/', 'node_modules/mailauth/lib/'],
  async: true,
  maxLen: 16 * 1024,
  dict: 'auth.dict',
  budgetMs: 2000,
  growth: { grow: growMessage, bytes: 16 * 1024, every: 128 },
  *seeds(testdata): Generator<Seed> {
    const seed = (name: string, message: string | Buffer, zone: string, ip = '192.0.2.10', helo = 'mail.example.com', from = 'joe@football.example.com') =>
      ({ name, data: joinFields([message, zone, ip, helo, from]) });
    yield seed('plain', 'From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n', 'example.com v=spf1 ip4:192.0.2.0/24 -all\n_dmarc.example.com v=DMARC1; p=reject; rua=mailto:d@example.com', '192.0.2.10', 'mail.example.com', 'a@example.com');
    if (!testdata) return;
    const keyed = (file: string) => {
      const text = readFileSync(file, 'utf8');
      const cut = text.indexOf('\n\n');
      return { zone: text.slice(0, cut), message: text.slice(cut + 2).replace(/\r?\n/g, '\r\n') };
    };
    for (const f of filesUnder(join(testdata, 'stalwart-mail-auth', 'resources'), (n) => /^\d+\.txt$/.test(n))) {
      if (!/[/\\](dkim|arc)[/\\]/.test(f)) continue;
      const { zone, message } = keyed(f);
      yield seed(f.split(/[/\\]/).slice(-2).join('-'), message, zone);
    }
    const rfc8463 = join(testdata, 'rfc8463-dkim');
    for (const f of filesUnder(rfc8463, (n) => n === 'signed-message.eml')) yield seed('rfc8463', readFileSync(f), readFileSync(join(rfc8463, 'dns-txt.txt'), 'utf8'));
    for (const f of filesUnder(join(testdata, 'arc-test-suite', 'tests'), (n) => n === 'arc-draft-validation-tests.json')) {
      const scenarios = JSON.parse(readFileSync(f, 'utf8')) as { tests: Record<string, { message: string }>; 'txt-records': Record<string, string> }[];
      for (const [i, s] of scenarios.entries()) {
        const zone = Object.entries(s['txt-records']).map(([n, v]) => `${n} ${v}`).join('\n');
        for (const [id, t] of Object.entries(s.tests).slice(0, 8)) yield seed(`arc-${i}-${id}`, t.message.replace(/\r?\n/g, '\r\n'), zone);
      }
    }
    for (const f of filesUnder(join(testdata, 'spf-openspf'), (n) => n === 'rfc7208-tests.json')) {
      const scenarios = JSON.parse(readFileSync(f, 'utf8')) as { zonedata: Record<string, Record<string, unknown>[]>; tests: Record<string, { host: string; helo: string; mailfrom: string }> }[];
      for (const [i, s] of scenarios.entries()) {
        const zone = Object.entries(s.zonedata).flatMap(([n, rrs]) => rrs.flatMap((rr) => (typeof rr === 'object' && rr ? Object.entries(rr) : []).map(([t, v]) => `${n} ${t === 'SPF' ? 'TXT' : t} ${Array.isArray(v) ? v.join(' ') : String(v)}`))).join('\n');
        for (const [id, t] of Object.entries(s.tests).slice(0, 6)) yield seed(`spf-${i}-${id}`, `From: ${t.mailfrom}\r\n\r\nx\r\n`, zone, t.host, t.helo, t.mailfrom);
      }
    }
  },
  async run(data) {
    const f = new Fields(data);
    const resolve = zoneResolver(f.latin1(1));
    const dns = { forMessage: () => resolve } as unknown as DnsResolver;
    const { section } = await verifyMessage(
      { raw: f.bytes(0), clientIp: clientIp(f.bytes(2)), helo: smtpArg(f.latin1(3)), mailFrom: smtpArg(f.latin1(4)), messageId: 'fuzz' },
      { dns, authservId: 'mx.scop.test', minKeyBits: 1024, now: NOW },
    );
    invariant(type.isValid(section), () => {
      const paths: string[] = [];
      type.isValid(section, { errorHook: (p) => paths.push(p.join('.')) });
      return `section does not fit AuthSection at ${paths.slice(0, 3).join(', ')}`;
    });
    const back = type.fromBuffer(type.toBuffer(section)) as AuthSection;
    invariant(isDeepStrictEqual(JSON.parse(JSON.stringify(back)), JSON.parse(JSON.stringify(section))), 'the section changed in an Avro round trip');
    checkHeaderValue('Authentication-Results', section.authenticationResults);
    invariant(section.authenticationResults.startsWith('mx.scop.test;'), 'Authentication-Results does not start with our authserv-id');
    checkHeaderValue('Received-SPF', section.receivedSpf);
    invariant(SPF_RESULTS.includes(section.spf.result), () => `SPF result ${section.spf.result}`);
  },
});
