/** `scop dkim keygen`: a signing key for the DKIM stage's key directory, and the DNS record to publish. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { ConfigError, loadEnv } from '../runtime/config.ts';
import { writeFileAtomically } from '../runtime/private-file.ts';
import { dnsTxtValue, dnsZoneLine, generateKey, normalizeDomain, validSelector } from '../processors/dkim-sign/keys.ts';

function keyDir(opt?: string): string {
  if (opt) return resolve(opt);
  const env = loadEnv(
    { DKIM_KEY_DIR: z.string().optional(), SCOP_DATA_DIR: z.string().default('.data') },
    { DKIM_KEY_DIR: 'the DKIM signing stage\'s key directory, e.g. DKIM_KEY_DIR=/etc/scop/dkim', SCOP_DATA_DIR: 'a writable folder' },
  );
  return resolve(env.DKIM_KEY_DIR ?? join(env.SCOP_DATA_DIR, 'dkim'));
}

export function registerDkimCommands(program: Command): void {
  const dkim = program.command('dkim').description('DKIM signing keys');
  dkim
    .command('keygen')
    .description('write <dir>/<domain>/<selector>.pem (mode 0600) and print the DNS TXT record to publish')
    .requiredOption('--domain <domain>', 'signing domain (d=)')
    .requiredOption('--selector <selector>', 'selector (s=)')
    .option('--type <type>', 'rsa or ed25519', 'rsa')
    .option('--bits <n>', 'RSA modulus length', '2048')
    .option('--dir <dir>', 'key directory (default DKIM_KEY_DIR, else $SCOP_DATA_DIR/dkim)')
    .option('--force', 'replace an existing key (atomically; the new file is 0600 whatever the old one was)')
    .action(async (opts: { domain: string; selector: string; type: string; bits: string; dir?: string; force?: boolean }) => {
      const domain = normalizeDomain(opts.domain);
      if (!domain) throw new ConfigError('--domain', `"${opts.domain}" is not a domain name`, 'give the From domain, e.g. --domain example.org');
      if (!validSelector(opts.selector)) throw new ConfigError('--selector', `"${opts.selector}" is not a valid selector`, 'letters, digits, dashes and dots, e.g. --selector s2024');
      if (opts.type !== 'rsa' && opts.type !== 'ed25519') throw new ConfigError('--type', `unknown key type "${opts.type}"`, 'use --type rsa or --type ed25519');
      const bits = Number(opts.bits);
      if (opts.type === 'rsa' && (!Number.isInteger(bits) || bits < 1024 || bits > 8192)) throw new ConfigError('--bits', `"${opts.bits}" is not a usable RSA length`, 'use 2048 (RFC 8301: at least 1024; 2048 recommended)');
      const dir = join(keyDir(opts.dir), domain);
      const file = join(dir, `${opts.selector}.pem`);
      if (existsSync(file) && !opts.force) throw new ConfigError('--selector', `${file} exists`, 'choose a new selector (key rotation) or pass --force to replace it');
      const { pem, key } = generateKey(opts.type, bits);
      // Atomic and always 0600: --force never leaves a half-written key, nor the mode of the key it replaces.
      await writeFileAtomically(file, pem, 0o600);
      const zone = dnsZoneLine(domain, opts.selector, key);
      await writeFileAtomically(join(dir, `${opts.selector}.txt`), `${zone}\n`, 0o644);
      console.error(`wrote ${file} (${opts.type === 'rsa' ? `RSA-${bits}` : 'Ed25519'}); publish this record, then restart the dkim-sign stage:`);
      console.log(zone);
      console.error(`TXT value: ${dnsTxtValue(key)}`);
    });
}
