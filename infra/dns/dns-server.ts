/**
 * Test helper: a small authoritative DNS server in-process, speaking real DNS over UDP and TCP on
 * loopback (dns-packet for the wire format), for the external suites whose zone data is generated
 * per scenario (OpenSPF, Stalwart, ValiMail). The fixed test zones are served by a real Knot DNS
 * (knot.ts); this one exists because the suites need per-name TIMEOUT and SERVFAIL behaviour.
 *
 * Behaviour: names are case-insensitive; a CNAME answers any type (and is chased inside the zone);
 * a name with records but none of the asked type → NOERROR/NODATA with SOA; an unknown name that
 * is not an empty non-terminal → NXDOMAIN with SOA; `timeout` → no answer at all; `servfail` →
 * SERVFAIL. Responses larger than the client's UDP size are truncated (TC) so TCP gets used.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import dnsPacket from 'dns-packet';

const RCODES: Record<string, number> = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 };

function chunk255(v: string | Buffer): Buffer[] {
  const b = Buffer.isBuffer(v) ? v : Buffer.from(v);
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 255) out.push(b.subarray(i, i + 255));
  return out.length ? out : [Buffer.alloc(0)];
}

export type TestRr =
  | { type: 'A' | 'AAAA' | 'PTR' | 'CNAME' | 'NS'; data: string; ttl?: number }
  | { type: 'TXT'; data: string | Buffer | (string | Buffer)[]; ttl?: number }
  | { type: 'MX'; data: { exchange: string; preference: number }; ttl?: number }
  /** Any type not listed for this name times out (OpenSPF's TIMEOUT next to other records). */
  | { type: 'TIMEOUT' }
  /** This type explicitly has no records (OpenSPF's `TXT: NONE`; it keeps an SPF entry from doubling as TXT). */
  | { type: 'NONE'; data: string };

export type NameBehaviour = TestRr[] | 'timeout' | 'servfail';

export class TestDnsServer {
  readonly zone = new Map<string, NameBehaviour>();
  /** Every question received, as "TYPE name" (for asserting what was asked). */
  readonly log: string[] = [];
  negativeTtl = 300;
  /** Behaviour for names not in the zone (default: NXDOMAIN / empty non-terminal). */
  onMissing?: (name: string) => NameBehaviour | undefined;
  private udp?: Socket;
  private tcp?: Server;
  port = 0;

  static norm(name: string): string {
    return name.replace(/\.$/, '').toLowerCase();
  }

  set(name: string, b: NameBehaviour): this {
    this.zone.set(TestDnsServer.norm(name), b);
    return this;
  }

  add(name: string, rr: TestRr): this {
    const k = TestDnsServer.norm(name);
    const cur = this.zone.get(k);
    if (Array.isArray(cur)) cur.push(rr); else this.zone.set(k, [rr]);
    return this;
  }

  clear(): void {
    this.zone.clear();
    this.log.length = 0;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Port 0: UDP takes a free port and TCP the same number. That number can already be in use on TCP
   * (an outgoing connection's ephemeral port, another test's listener), so a clash picks another.
   */
  async start(port = 0): Promise<this> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listen(port);
      } catch (e) {
        await this.stop();
        if (port !== 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw e;
      }
    }
  }

  private async listen(port: number): Promise<this> {
    this.udp = createSocket('udp4');
    await new Promise<void>((ok, fail) => { this.udp!.once('error', fail); this.udp!.bind(port, '127.0.0.1', () => ok()); });
    this.port = this.udp.address().port;
    this.udp.on('message', (msg, rinfo) => {
      const out = this.safeRespond(msg, false);
      if (out) this.udp!.send(out, rinfo.port, rinfo.address);
    });
    this.tcp = createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.on('error', () => {});
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const out = this.safeRespond(buf.subarray(2, 2 + len), true);
          buf = buf.subarray(2 + len);
          if (out) {
            const l = Buffer.alloc(2);
            l.writeUInt16BE(out.length);
            sock.write(Buffer.concat([l, out]));
          }
        }
      });
    });
    await new Promise<void>((ok, fail) => { this.tcp!.once('error', fail); this.tcp!.listen(this.port, '127.0.0.1', () => ok()); });
    return this;
  }

  async stop(): Promise<void> {
    const udp = this.udp, tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    await new Promise<void>((ok) => {
      try { udp ? udp.close(() => ok()) : ok(); } catch { ok(); } // never bound: nothing to close
    });
    await new Promise<void>((ok) => (tcp?.listening ? tcp.close(() => ok()) : ok()));
  }

  private soa(): dnsPacket.Answer {
    return { type: 'SOA', name: '.', ttl: this.negativeTtl, data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: this.negativeTtl } } as dnsPacket.Answer;
  }

  private exists(name: string): boolean {
    if (this.zone.has(name)) return true;
    for (const k of this.zone.keys()) if (k.endsWith(`.${name}`)) return true; // empty non-terminal
    return false;
  }

  /** A zone the encoder cannot write is a bug in the test: answer SERVFAIL and say so. */
  private safeRespond(msg: Buffer, tcp: boolean): Buffer | null {
    try {
      return this.respond(msg, tcp);
    } catch (e) {
      console.error(`TestDnsServer: cannot answer: ${(e as Error).message}`);
      const q = dnsPacket.decode(msg);
      return dnsPacket.encode({ type: 'response', id: q.id, flags: RCODES.SERVFAIL!, questions: q.questions } as dnsPacket.Packet);
    }
  }

  private respond(msg: Buffer, tcp: boolean): Buffer | null {
    let q: dnsPacket.Packet;
    try { q = dnsPacket.decode(msg); } catch { return null; }
    const question = q.questions?.[0];
    if (!question) return null;
    const qname = TestDnsServer.norm(question.name);
    this.log.push(`${question.type} ${qname}`);
    const base = { type: 'response' as const, id: q.id, flags: dnsPacket.AUTHORITATIVE_ANSWER | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED), questions: [question] };
    const answers: dnsPacket.Answer[] = [];
    let name = qname;
    let rcode = 'NOERROR';
    for (let hops = 0; hops < 8; hops++) {
      const b = this.zone.get(name) ?? this.onMissing?.(name);
      if (b === 'timeout') return null;
      if (b === 'servfail') { rcode = 'SERVFAIL'; break; }
      if (!b) { if (!this.exists(name) && answers.length === 0) rcode = 'NXDOMAIN'; break; }
      if (b.some((r) => r.type === 'TIMEOUT') && !b.some((r) => r.type === question.type)) return null;
      const cname = b.find((r) => r.type === 'CNAME') as { data: string; ttl?: number } | undefined;
      if (cname && question.type !== 'CNAME') {
        answers.push({ type: 'CNAME', name, ttl: cname.ttl ?? 300, data: cname.data } as dnsPacket.Answer);
        name = TestDnsServer.norm(cname.data);
        continue;
      }
      for (const rr of b) {
        if (rr.type === 'TIMEOUT' || rr.type === 'NONE' || rr.type !== question.type) continue;
        // A character-string holds at most 255 octets: split longer single strings (DKIM keys).
        const data = rr.type === 'TXT' ? (Array.isArray(rr.data) ? rr.data : chunk255(rr.data)) : rr.data;
        answers.push({ type: rr.type, name, ttl: rr.ttl ?? 300, data } as dnsPacket.Answer);
      }
      break;
    }
    const negative = rcode !== 'SERVFAIL' && answers.filter((a) => a.type === question.type).length === 0;
    const flags = base.flags | RCODES[rcode]!;
    const packet: dnsPacket.Packet = { ...base, flags, answers, authorities: negative ? [this.soa()] : [] } as dnsPacket.Packet;
    let out = dnsPacket.encode(packet);
    const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const limit = opt?.udpPayloadSize ?? 512;
    if (!tcp && out.length > limit) out = dnsPacket.encode({ ...base, flags: flags | dnsPacket.TRUNCATED_RESPONSE, answers: [] } as dnsPacket.Packet);
    return out;
  }
}
