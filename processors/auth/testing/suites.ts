/**
 * Loaders for the external suites in ../shared/testdata (read-only; never copied into the repo),
 * turning each scenario's DNS data into records for TestDnsServer.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { testdataPath } from '../../../runtime/testdata.ts';
import type { NameBehaviour, TestDnsServer, TestRr } from '../../../infra/dns/dns-server.ts';


// ---- OpenSPF (pyspf) YAML suites, as their JSON conversion ----
export interface OpenSpfTest { spec: string; helo: string; host: string; mailfrom: string; result: string | string[]; explanation?: string; description?: string }
export interface OpenSpfScenario { description: string; tests: Record<string, OpenSpfTest>; zonedata: Record<string, (string | Record<string, unknown>)[]> }

export function loadOpenSpf(file = 'rfc7208-tests.json'): OpenSpfScenario[] {
  return JSON.parse(readFileSync(testdataPath('spf-openspf', file), 'utf8')) as OpenSpfScenario[];
}

/** JSON keeps the YAML's \xNN escapes as U+00NN: turn them back into bytes. */
const latin1 = (s: string): string | Buffer => (/[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'latin1') : s);

/** Driver rules from pyspf's testspf.py (see SOURCE.md). */
export function loadOpenSpfZone(dns: TestDnsServer, zonedata: OpenSpfScenario['zonedata']): void {
  dns.clear();
  for (const [name, entries] of Object.entries(zonedata)) {
    const rrs: TestRr[] = [];
    const hasTxt = entries.some((e) => typeof e === 'object' && 'TXT' in e);
    for (const e of entries) {
      if (e === 'TIMEOUT') { rrs.push({ type: 'TIMEOUT' }); continue; }
      if (typeof e !== 'object') continue;
      for (const [type, v] of Object.entries(e)) {
        if (v === 'NONE') { rrs.push({ type: 'NONE', data: type === 'SPF' ? 'TXT' : type }); continue; }
        switch (type) {
          case 'SPF': if (!hasTxt) rrs.push({ type: 'TXT', data: Array.isArray(v) ? v.map((x) => latin1(String(x))) : latin1(String(v)) }); break;
          case 'TXT': rrs.push({ type: 'TXT', data: Array.isArray(v) ? v.map((x) => latin1(String(x))) : latin1(String(v)) }); break;
          case 'MX': rrs.push({ type: 'MX', data: { preference: Number((v as unknown[])[0]), exchange: String((v as unknown[])[1]) } }); break;
          case 'A': case 'AAAA': case 'PTR': case 'CNAME': rrs.push({ type, data: String(v) }); break;
          default: throw new Error(`unknown zonedata type ${type}`);
        }
      }
    }
    dns.set(name, rrs.length === 1 && rrs[0]!.type === 'TIMEOUT' ? 'timeout' : rrs);
  }
  dns.onMissing = (n) => (n.startsWith('error.') ? 'servfail' : undefined);
}

// ---- Stalwart mail-auth SPF pseudo-YAML ----
export interface StalwartSpfCase { file: string; scenario: string; line: number; helo: string; sender: string; ip: string; expect: string; explanation?: string; zone: Map<string, NameBehaviour> }

/** Parses one file line by line; DNS data accumulates over the file (upstream shares one cache), so each case carries the zone as it stood at its `expect:` line. */
export function loadStalwartSpf(file: string, dns: TestDnsServer): StalwartSpfCase[] {
  const text = readFileSync(testdataPath('stalwart-mail-auth/resources/spf', file), 'utf8');
  const cases: StalwartSpfCase[] = [];
  let scenario = '';
  let helo = '';
  let sender = '';
  let ip = '127.0.0.1';
  const mxN = new Map<string, number>();
  // A later record for the same name and type replaces the earlier one (upstream's cache insert).
  const put = (name: string, rrs: TestRr[]) => {
    const k = name.toLowerCase();
    const keep = (Array.isArray(dns.zone.get(k)) ? dns.zone.get(k) as TestRr[] : []).filter((r) => r.type !== rrs[0]!.type);
    dns.set(k, [...keep, ...rrs]);
  };
  // upstream's test resolver fails every name containing _dns_error
  dns.onMissing = (n) => (n.includes('_dns_error') ? 'servfail' : undefined);
  text.split('\n').forEach((raw, idx) => {
    const line = raw.trim().replace(/^-\s*/, '');
    const m = /^([a-z]+):\s?(.*)$/.exec(line);
    if (!m) return;
    const [, key, rest] = m as unknown as [string, string, string];
    const sp = rest.indexOf(' ');
    const name = sp >= 0 ? rest.slice(0, sp) : rest;
    const value = sp >= 0 ? rest.slice(sp + 1).trim() : '';
    switch (key) {
      case 'name': scenario = rest; break;
      case 'spf': case 'exp': put(name, [{ type: 'TXT', data: value }]); break;
      case 'a': put(name, value.split(',').map((v) => ({ type: 'A', data: v.trim() }))); break;
      case 'aaaa': put(name, value.split(',').map((v) => ({ type: 'AAAA', data: v.trim() }))); break;
      case 'mx': {
        // upstream synthesises one exchange per address with preference n+1
        const n0 = (mxN.get(name) ?? 0) + 1;
        mxN.set(name, n0);
        put(name, value.split(',').map((v, n) => {
          const addr = v.trim();
          const exch = `mx${n0}-${n}.${name}`;
          put(exch, [{ type: addr.includes(':') ? 'AAAA' : 'A', data: addr }]);
          return { type: 'MX', data: { preference: n + 1, exchange: exch } };
        }));
        break;
      }
      case 'ptr': put(ptrName(name), value.split(',').map((v) => ({ type: 'PTR', data: v.trim() }))); break;
      case 'domain': helo = rest; break;
      case 'sender': sender = rest; break;
      case 'ip': ip = rest; break;
      case 'expect': {
        const e = /^(\S+)\s*(.*)$/.exec(rest)!;
        const zone = new Map([...dns.zone].map(([k, v]) => [k, Array.isArray(v) ? [...v] : v] as [string, NameBehaviour]));
        cases.push({ file, scenario, line: idx + 1, helo, sender, ip, expect: e[1]!, explanation: e[2] || undefined, zone });
        break;
      }
      default: break; // records:, tests:
    }
  });
  return cases;
}

export function ptrName(ip: string): string {
  if (ip.includes(':')) {
    // expand IPv6 to 32 nibbles
    const [head, tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    return `${groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.')}.ip6.arpa`;
  }
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}

export const stalwartSpfFiles = (): string[] => readdirSync(testdataPath('stalwart-mail-auth/resources/spf')).filter((f) => f.endsWith('.yml')).sort();

// ---- Stalwart DKIM/ARC and RFC 8463: "<name> <TXT>" lines, blank line, LF message ----
export function loadKeyedMessage(path: string): { records: [string, string][]; message: Buffer } {
  const text = readFileSync(testdataPath(path), 'utf8');
  const cut = text.indexOf('\n\n');
  const records = text.slice(0, cut).split('\n').filter(Boolean).map((l) => {
    const sp = l.indexOf(' ');
    return [l.slice(0, sp), l.slice(sp + 1)] as [string, string];
  });
  return { records, message: Buffer.from(text.slice(cut + 2).replace(/\r?\n/g, '\r\n')) };
}

/** "name value" lines (rfc8463-dkim/dns-txt.txt, crymap dkim-dns-txt.txt). */
export function loadTxtLines(path: string): [string, string][] {
  return readFileSync(testdataPath(path), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const sp = l.indexOf(' ');
    return [l.slice(0, sp), l.slice(sp + 1).trim()] as [string, string];
  });
}

/** TXT values longer than 255 octets must be split into several character-strings. */
export function txtChunks(value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 255) out.push(value.slice(i, i + 255));
  return out.length ? out : [''];
}

// ---- ValiMail ARC validation suite ----
export interface ArcTest { spec: string; description: string; message: string; cv: string }
export interface ArcScenario { description: string; tests: Record<string, ArcTest>; 'txt-records': Record<string, string> }
export function loadArcValidation(): ArcScenario[] {
  return JSON.parse(readFileSync(testdataPath('arc-test-suite/tests/arc-draft-validation-tests.json'), 'utf8')) as ArcScenario[];
}
