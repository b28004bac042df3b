/**
 * The MIME stage's throughput on the SpamAssassin corpus (6,046 messages), one process, in one run:
 *   1. bare parsers (mailparser vs postal-mime, bench/mime-parsers.ts),
 *   2. the stage logic (parseMime: scan + mailparser + attachment policy) without Kafka,
 *   3. the stage through Kafka: records pre-loaded on an input topic, the stage started, timed
 *      until every record is committed on the output (transactions, Avro, registry included).
 * Needs KAFKA_BROKERS and SCHEMA_REGISTRY_URL (e.g. the dev stack).
 * Run: `node --import tsx bench/mime-stage.ts [--limit N]`.
 */
import { performance } from 'node:perf_hooks';
import { parseMime } from '../processors/mime/parse.ts';
import { mimeService } from '../processors/mime/service.ts';
import { createStageTopics, produce, testMailRecord, testServiceContext, untilCommitted } from '../runtime/stage-testing.ts';
import { benchParsers } from './mime-parsers.ts';
import { loadSpamAssassin } from '../corpus/spam-assassin/index.ts';

const i = process.argv.indexOf('--limit');
const corpus = loadSpamAssassin(i >= 0 ? Number(process.argv[i + 1]) : Infinity);
const n = corpus.length;
console.log(`corpus: ${n} SpamAssassin messages, ${(corpus.reduce((s, m) => s + m.raw.length, 0) / 1e6).toFixed(1)} MB; node ${process.version}`);

// 1. Bare parsers.
const parsers = await benchParsers(corpus, 1, false);
for (const r of parsers) console.log(`bare ${r.name.padEnd(12)} ${r.perSecond.toFixed(0).padStart(6)} msg/s  failures ${r.failures.length}`);

// 2. Stage logic without Kafka.
let t0 = performance.now();
let defects = 0;
let failures = 0;
for (const [k, m] of corpus.entries()) {
  try {
    const s = await parseMime(m.raw);
    if (s.defects.length) defects++;
  } catch {
    failures++;
  }
  if ((k + 1) % 1000 === 0) process.stderr.write(`  parseMime ${k + 1}/${n}\r`);
}
const logicRate = n / ((performance.now() - t0) / 1000);
process.stderr.write('\n');
console.log(`parseMime (no Kafka)   ${logicRate.toFixed(0).padStart(6)} msg/s  failures ${failures}, messages with defects ${defects}`);

// 3. Through Kafka.
const svc = testServiceContext('bench-mime');
svc.log.level = 'warn';
const admin = svc.kafka.admin();
await admin.connect();
const t = await createStageTopics(admin, 'bench-mime', 6);
for (let k = 0; k < n; k += 500) {
  await produce(svc.kafka, svc.codec, t.input, 'MailRecord', corpus.slice(k, k + 500).map((m) => ({ record: testMailRecord(m.raw) })));
}
console.log(`loaded ${n} records on ${t.input}`);
t0 = performance.now();
const running = await mimeService.run(svc, t);
await untilCommitted(admin, t, n, (done) => process.stderr.write(`  stage ${done}/${n}\r`));
const kafkaSeconds = (performance.now() - t0) / 1000;
process.stderr.write('\n');
await running.stop();
const out = (await admin.fetchTopicOffsets(t.output)).reduce((s, p) => s + Number(p.high), 0);
await admin.deleteTopics({ topics: [t.input, t.output, t.deadLetters] }).catch(() => {});
await admin.disconnect();
const kafkaRate = n / kafkaSeconds;
const bare = parsers.find((p) => p.name === 'mailparser')!;
console.log(`stage via Kafka        ${kafkaRate.toFixed(0).padStart(6)} msg/s  (${kafkaSeconds.toFixed(1)} s incl. group join; output log positions ${out})`);
console.log(`ratio stage-via-Kafka / bare mailparser = ${(kafkaRate / bare.perSecond).toFixed(2)}; / parseMime = ${(kafkaRate / logicRate).toFixed(2)}`);
process.exit(0);
