/**
 * Test helper: a real authoritative DNS server — Knot DNS (Debian package `knot`, in
 * infra/debian-packages.txt) — started on a free loopback port with a generated config and zone
 * files under .data/, and stopped (process killed, files removed) at the end. Nothing is installed
 * as a system service: knotd runs as a child of the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Resolver } from 'node:dns/promises';
import { freeTcpUdpPort } from '../ports.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const KNOTD = ['/usr/sbin/knotd', '/usr/bin/knotd'].find((p) => existsSync(p));

export interface ZoneRecord { name: string; type: 'A' | 'AAAA' | 'TXT' | 'MX' | 'PTR' | 'CNAME'; value: string; ttl?: number }

/** A TXT value as zone-file character-strings of at most 255 octets, quoted and escaped. */
export function txtRdata(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(value.slice(i, i + 255));
  return (parts.length ? parts : ['']).map((p) => `"${p.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(' ');
}

export class KnotServer {
  port = 0;
  private proc?: ChildProcess;
  private dir = '';
  private stderr = '';

  /**
   * zones: origin (e.g. "test") → records with absolute names. The port is free when chosen but
   * another process may take it before knotd binds, so a start that fails is tried on a new port.
   */
  async start(zones: Record<string, ZoneRecord[]>): Promise<this> {
    if (!KNOTD) throw new Error('knotd not found: apt-get install -y knot (see infra/debian-packages.txt)');
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce(zones);
      } catch (e) {
        await this.stop();
        if (attempt >= 3) throw e;
      }
    }
  }

  private async startOnce(zones: Record<string, ZoneRecord[]>): Promise<this> {
    this.stderr = '';
    this.port = await freeTcpUdpPort();
    this.dir = join(ROOT, '.data', `knot-${process.pid}-${this.port}`);
    mkdirSync(join(this.dir, 'zones'), { recursive: true });
    mkdirSync(join(this.dir, 'db'), { recursive: true });
    const zoneConf: string[] = [];
    for (const [origin, records] of Object.entries(zones)) {
      const lines = [
        `$ORIGIN ${origin}.`, '$TTL 300',
        `@ 300 IN SOA ns.${origin}. hostmaster.${origin}. 1 3600 600 86400 60`,
        `@ 300 IN NS ns.${origin}.`, `ns 300 IN A 127.0.0.1`,
        ...records.map((r) => `${r.name}. ${r.ttl ?? 300} IN ${r.type} ${r.type === 'TXT' ? txtRdata(r.value) : r.value}`),
      ];
      writeFileSync(join(this.dir, 'zones', `${origin}.zone`), `${lines.join('\n')}\n`);
      zoneConf.push(`  - domain: ${origin}.`);
    }
    writeFileSync(join(this.dir, 'knot.conf'), [
      'server:', `    rundir: "${this.dir}"`, `    listen: 127.0.0.1@${this.port}`,
      '    udp-workers: 1', '    tcp-workers: 1', '    background-workers: 1',
      'log:', '  - target: stderr', '    any: warning',
      'database:', `    storage: "${join(this.dir, 'db')}"`,
      'template:', '  - id: default', `    storage: "${join(this.dir, 'zones')}"`, '    file: "%s.zone"', '    zonefile-sync: -1', '    journal-content: none',
      'zone:', ...zoneConf, '',
    ].join('\n'));
    const proc = spawn(KNOTD!, ['-c', join(this.dir, 'knot.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    proc.stderr!.on('data', (d) => { this.stderr += d; });
    // Ready when the first zone answers over UDP.
    const probe = new Resolver({ timeout: 200, tries: 1 });
    probe.setServers([`127.0.0.1:${this.port}`]);
    const first = Object.keys(zones)[0]!;
    for (let i = 0; i < 100; i++) {
      if (proc.exitCode !== null) throw new Error(`knotd exited (${proc.exitCode}): ${this.stderr}`);
      try {
        await probe.resolve4(`ns.${first}`);
        return this;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`knotd did not answer on port ${this.port}: ${this.stderr}`);
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      const exited = new Promise((ok) => p.once('exit', ok));
      p.kill('SIGTERM');
      await Promise.race([exited, sleep(5000).then(() => p.kill('SIGKILL'))]);
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
