/**
 * CPU per message of the inbound chain's own logic, in one process, no Kafka: on the 10 SpamAssassin
 * messages the e2e bench sends (bench/e2e.ts), per stage — MIME (`parseMime`, its language guess
 * apart), auth (`verifyMessage`, DNS answered NXDOMAIN by an in-process server and cached as the
 * stage caches it), spam (`spamInputFromMime` + `tokenize` + the default model's `spamSection`).
 * The e2e bench's inbound figure also holds Kafka (kafkajs, Avro, transactions), the firewall and the
 * decision; this one moves only with the stages' logic, so an A/B of a change there is not lost in
 * the noise of a loaded box.
 *
 * Run: `npm run bench -- inbound-cpu [--rounds 5] [--reps 40]`. Prints, per stage, the median and the
 * minimum over rounds of process CPU (user + system) µs per message.
 */
import { loadSpamAssassin } from '../corpus/spam-assassin/index.ts';
import { TestDnsServer } from '../infra/dns/dns-server.ts';
import { DnsResolver } from '../processors/auth/dns.ts';
import { verifyMessage } from '../processors/auth/verify.ts';
import { languageGuesser } from '../processors/mime/language.ts';
import { LANGUAGES, languageSample, parseMime } from '../processors/mime/parse.ts';
import { loadDefaultModel } from '../processors/spam/default-model.ts';
import { spamInputFromMime } from '../processors/spam/input.ts';
import { BayesModel } from '../processors/spam/model.ts';
import { spamSection } from '../processors/spam/scorer.ts';
import { tokenize } from '../processors/spam/tokenizer.ts';
import type { MimeSection } from '../schemas/types.ts';

const arg = (name: string, d: number) => { const i = process.argv.indexOf(name); return i >= 0 ? Number(process.argv[i + 1]) : d; };
const ROUNDS = arg('--rounds', 5);
const REPS = arg('--reps', 40);

// As bench/e2e.ts picks and writes them (LF line ends, as smtp-source sends the files).
const messages = loadSpamAssassin().filter((_, i) => i % 600 === 0).slice(0, 10).map((m) => Buffer.from(m.raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'));
const cpuUs = () => { const c = process.cpuUsage(); return c.user + c.system; };

const dns = new TestDnsServer();
await dns.start();
const resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: dns.port }], timeoutMs: 2000, retries: 0, cacheSize: 10000, maxTtl: 300 });
const data = loadDefaultModel();
if (!data) throw new Error('no default spam model file (processors/spam): train one with `scop spam train --corpora`');
const active = { model: BayesModel.fromData(data), version: data.version, line: data.version };
const guesser = languageGuesser({ minLength: 80, only: LANGUAGES });

const mimes = new Map<Buffer, MimeSection>();
const stages: Record<string, (raw: Buffer) => Promise<unknown> | unknown> = {
  mime: async (raw) => { const m = await parseMime(raw); mimes.set(raw, m); return m; },
  'mime: language guess alone': (raw) => guesser.guess(languageSample(mimes.get(raw)!.text ?? '')),
  auth: (raw) => verifyMessage({ raw, clientIp: '192.0.2.10', helo: 'bench.example', mailFrom: 'bench@bench.example', messageId: 'x' }, { dns: resolver, authservId: 'mx.test', minKeyBits: 1024 }),
  spam: (raw) => spamSection(tokenize(spamInputFromMime(mimes.get(raw)!, raw, null, null)), active),
};

const results = new Map<string, number[]>();
for (let round = 0; round <= ROUNDS; round++) {
  for (const [name, f] of Object.entries(stages)) {
    const t = cpuUs();
    for (let r = 0; r < REPS; r++) for (const raw of messages) await f(raw);
    // Round 0 warms up (JIT, DNS cache) and is not counted.
    if (round > 0) results.set(name, [...(results.get(name) ?? []), (cpuUs() - t) / (REPS * messages.length)]);
  }
}
await dns.stop();
console.log(`inbound-cpu: ${messages.length} corpus messages (${messages.reduce((s, m) => s + m.length, 0)} bytes), ${REPS} reps × ${ROUNDS} rounds; node ${process.version}`);
for (const [name, us] of results) {
  us.sort((a, b) => a - b);
  console.log(`  ${name.padEnd(28)} median ${us[Math.floor(us.length / 2)]!.toFixed(0).padStart(5)} µs, min ${us[0]!.toFixed(0).padStart(5)} µs CPU per message`);
}
