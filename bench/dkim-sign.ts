/**
 * DKIM signatures per second, one process, RSA-2048 and Ed25519, in one run:
 *   1. baseline: bare mailauth dkimSign() with the same key (as PEM: mailauth 7 takes no parsed
 *      KeyObject) and header list, mailauth's own layout (no oversigning),
 *   2. the stage logic: signMessage() (From parse, sender check, key lookup, sign, section),
 *   3. (with KAFKA_BROKERS/SCHEMA_REGISTRY_URL) the stage through Kafka: records pre-loaded on
 *      an input topic, the stage started, timed until every input offset is committed.
 * A typical 3 KB message (headers + a short text body). Run: `node --import tsx bench/dkim-sign.ts [seconds]`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { loadDkimSignConfig } from '../processors/dkim-sign/config.ts';
import { generateKey } from '../processors/dkim-sign/keys.ts';
import { loadSubmissionMacKey, sealedEnvelope, submissionMacKeyFile } from '../runtime/submission-mac.ts';
import { dkimSignService } from '../processors/dkim-sign/service.ts';
import { signMessage } from '../processors/dkim-sign/sign.ts';
import { createStageTopics, produce, testMailRecord, testServiceContext, untilCommitted } from '../runtime/stage-testing.ts';

const seconds = Number(process.argv[2] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'bench-dkim-'));
const domains = { 'rsa.bench.test': generateKey('rsa', 2048), 'ed.bench.test': generateKey('ed25519') };
for (const [d, k] of Object.entries(domains)) {
  mkdirSync(join(dir, d));
  writeFileSync(join(dir, d, 's.pem'), k.pem);
}
const config = loadDkimSignConfig({ DKIM_KEY_DIR: dir, DKIM_SENDERS: '{"u":["*"]}' });
const body = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(40).replace(/(.{70})/g, '$1\r\n');
const message = (domain: string) => Buffer.from(
  `From: Sender <u@${domain}>\r\nTo: Bob <bob@example.net>\r\nCc: carol@example.net\r\nSubject: quarterly report\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n` +
  `Message-ID: <bench@${domain}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body}\r\n`);

/** Signatures per second of fn over `ms`. */
async function measure(fn: () => Promise<unknown>, ms: number): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    await fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// The machine is shared: baseline and stage alternate in 1-second rounds, medians reported.
console.log(`node ${process.version}; ${seconds} alternating 1 s rounds per mode after warm-up; message ${message('rsa.bench.test').length} bytes`);
for (const [domain, label] of [['rsa.bench.test', 'RSA-2048'], ['ed.bench.test', 'Ed25519']] as const) {
  const m = message(domain);
  const keys = config.keys.get(domain)!;
  const pem = keys.map((k) => k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const baseline = () => dkimSign(m, {
    canonicalization: 'relaxed/relaxed', signTime: new Date(), headerList: config.signHeaders,
    signatureData: keys.map((k, i) => ({ signingDomain: k.domain, selector: k.selector, privateKey: pem[i]!, algorithm: k.algorithm })),
  } as never);
  const stage = () => signMessage(m, { config, authUser: 'u' });
  await measure(baseline, 500);
  await measure(stage, 500);
  const b: number[] = [];
  const st: number[] = [];
  for (let r = 0; r < seconds; r++) {
    b.push(await measure(baseline, 1000));
    st.push(await measure(stage, 1000));
  }
  console.log(`${`${label}: bare mailauth dkimSign`.padEnd(44)} ${median(b).toFixed(0).padStart(6)} signatures/s  (rounds ${b.map((x) => x.toFixed(0)).join(' ')})`);
  console.log(`${`${label}: stage signMessage`.padEnd(44)} ${median(st).toFixed(0).padStart(6)} signatures/s  (rounds ${st.map((x) => x.toFixed(0)).join(' ')})`);
  console.log(`${label}: stage / baseline = ${(median(st) / median(b)).toFixed(2)}`);
}

if (process.env.KAFKA_BROKERS && process.env.SCHEMA_REGISTRY_URL) {
  for (const [domain, label] of [['rsa.bench.test', 'RSA-2048'], ['ed.bench.test', 'Ed25519']] as const) {
    const n = 3000;
    const svc = testServiceContext('bench-dkim-sign');
    svc.log.level = 'warn';
    svc.env = { ...process.env, DKIM_KEY_DIR: dir, DKIM_SENDERS: '{"u":["*"]}', SCOP_SUBMISSION_MAC_KEY_FILE: submissionMacKeyFile(undefined, dir) };
    const macKey = loadSubmissionMacKey({ dataDir: dir, create: true });
    const admin = svc.kafka.admin();
    await admin.connect();
    const t = await createStageTopics(admin, 'bench-dkim-sign', 6);
    const rec = testMailRecord(message(domain), { listener: 'SUBMISSION', authUser: 'u' });
    for (let k = 0; k < n; k += 500) await produce(svc.kafka, svc.codec, t.input, 'MailRecord', Array.from({ length: 500 }, () => ({ record: { ...rec, envelope: sealedEnvelope(macKey, { ...rec.envelope, id: crypto.randomUUID() }) } })));
    const t0 = performance.now();
    const running = await dkimSignService.run(svc, t);
    await untilCommitted(admin, t, n, (done) => process.stderr.write(`  ${label} stage via Kafka ${done}/${n}\r`));
    const secs = (performance.now() - t0) / 1000;
    process.stderr.write('\n');
    await running.stop();
    await admin.deleteTopics({ topics: [t.input, t.output, t.deadLetters] }).catch(() => {});
    await admin.disconnect();
    console.log(`${`${label}: stage via Kafka (${n} records)`.padEnd(44)} ${(n / secs).toFixed(0).padStart(6)} signatures/s  (${secs.toFixed(1)} s incl. group join)`);
  }
}
rmSync(dir, { recursive: true, force: true });
process.exit(0);
