/**
 * What the learner's broker tests share: a spam stage on its own topics with a small base model it
 * publishes, the learner's topics and settings, messages of three kinds, and scoring through the stage.
 * Each message comes with the MIME section the MIME stage gives it, built by hand (./testing.ts):
 * processors never import another stage or cli/, tests included.
 */
import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import type { Admin } from '../../../runtime/kafka.ts';
import type { ServiceContext } from '../../../runtime/service.ts';
import type { RunningStage } from '../../../runtime/stage.ts';
import { createStageTopics, produce, readTopic, testMailRecord, type StageTopics } from '../../../runtime/stage-testing.ts';
import { eventually, uniqueName } from '../../../runtime/testing.ts';
import { freePort } from '../../../infra/ports.ts';
import { topicConfig, TOPICS } from '../../../runtime/topics.ts';
import type { MailRecord, MimeSection, SpamModelRecord } from '../../../schemas/types.ts';
import { train } from '../evaluate.ts';
import { spamInputFromRecord } from '../input.ts';
import { writeModelFile } from '../model-topic.ts';
import { spamService } from '../service.ts';
import { mimeSection, withMime } from '../testing.ts';
import { tokenize } from '../tokenizer.ts';

/** A message as the tests send it: its raw text and the MIME section of it. */
export interface TestMessage { raw: string; mime: MimeSection }

interface Parts { name: string; from: string; to: { name: string; address: string } | null; toHeader: string; subject: string; messageId: string; html: string | null; text: string; urls?: string[] }

/** The raw message and, from the same parts, the section the MIME stage writes for it (decoded headers, text or HTML rendered as text, URLs). */
function message(p: Parts): TestMessage {
  const raw = `From: ${p.name} <${p.from}>\r\nTo: ${p.toHeader}\r\nSubject: ${p.subject}\r\nMessage-ID: <${p.messageId}>\r\nContent-Type: ${p.html === null ? 'text/plain' : 'text/html'}\r\n\r\n${p.html ?? p.text}\r\n`;
  const mime = mimeSection({ subject: p.subject, text: p.text, html: p.html, urls: p.urls ?? [], tags: p.html === null ? ['has-text'] : ['has-text', 'has-html', 'html-only'], charsets: ['us-ascii'] });
  mime.headers = { ...mime.headers, from: [{ name: p.name, address: p.from, group: null }], to: p.to ? [{ ...p.to, group: null }] : [], messageId: `<${p.messageId}>` };
  return { raw, mime };
}

export const HAM = (i: number) => message({
  name: 'Alice', from: 'alice@corp.test', to: { name: '', address: 'bob@example.net' }, toHeader: 'bob@example.net', subject: `Re: agenda for the meeting ${i}`, messageId: `h${i}@corp.test`, html: null,
  text: 'Hi Bob, here are the minutes of the meeting. The agenda for next week is attached below. Thanks, Alice',
});
export const SPAM = (i: number) => message({
  name: 'WINNER', from: `prize${i}@lotto.example`, to: null, toHeader: 'undisclosed-recipients:;', subject: 'You have WON $1,000,000!!!', messageId: `s${i}@lotto.example`,
  html: '<html><body><font color="red">CLICK HERE</font> to claim your cash prize now! <a href="http://198.51.100.7/claim">Claim now</a></body></html>',
  text: 'CLICK HERE to claim your cash prize now! Claim now', urls: ['http://198.51.100.7/claim'],
});
/** A kind of spam the base model has never seen: plain text, polite, from a corp-looking sender. */
export const NEW_SPAM = (i: number) => message({
  name: 'Replica Shop', from: `shop${i}@corp.test`, to: { name: '', address: 'bob@example.net' }, toHeader: 'bob@example.net', subject: `Re: swiss replica watches ${i}`, messageId: `w${i}@corp.test`, html: null,
  text: 'Hi Bob, genuine swiss replica watches rolex omega cartier at discount prices, replica watches shipped worldwide, order replica rolex today. Thanks',
});

/** A MailRecord for a test message as it reaches the spam stage (an envelope that says nothing, as for corpus mail; `rcptTo` as given). */
export function testRecord(m: TestMessage, id: string, rcptTo: string[] = []): MailRecord {
  return withMime(testMailRecord(m.raw, { id, clientIp: '192.0.2.1', clientPort: 0, helo: 'corpus.invalid', mailFrom: '', rcptTo: [...rcptTo] }), m.mime);
}

export interface LearnerFixture {
  topics: StageTopics & { model: string; history: string; feedback: string; alerts: string };
  /** The learner's settings for these topics (publishing after 4 labels; nothing held back). */
  env: NodeJS.ProcessEnv;
  /** A temporary folder of the test's own. */
  dir: string;
  stage: RunningStage;
  /** New records (UUIDv7 ids, envelope recipients `rcptTo`) through the stage; returns them scored. */
  score(messages: TestMessage[], rcptTo?: string[]): Promise<MailRecord[]>;
  /** The newest record on the model topic. */
  model(): Promise<SpamModelRecord>;
}

export async function learnerFixture(ctx: ServiceContext, admin: Admin, name: string, partitions: number, env: NodeJS.ProcessEnv = {}): Promise<LearnerFixture> {
  const stageTopics = await createStageTopics(admin, name, partitions);
  const topics = { ...stageTopics, model: uniqueName('spam-model'), history: uniqueName('spam-model-history'), feedback: uniqueName('spam-feedback'), alerts: uniqueName('alerts') };
  const specs = [[topics.model, TOPICS.spamModel, 1], [topics.history, TOPICS.spamModelHistory, 1], [topics.feedback, TOPICS.spamFeedback, partitions], [topics.alerts, TOPICS.alerts, 1]] as const;
  await admin.createTopics({
    waitForLeaders: true,
    topics: specs.map(([topic, spec, n]) => ({ topic, numPartitions: n, replicationFactor: 1, configEntries: Object.entries(topicConfig(spec)).map(([k, v]) => ({ name: k, value: v })) })),
  });
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const examples = Array.from({ length: 12 }, (_, i) => ({ tokens: tokenize(spamInputFromRecord(testRecord(i % 2 ? SPAM(i) : HAM(i), `base-${i}`))), label: (i % 2 ? 'spam' : 'ham') as 'spam' | 'ham' }));
  writeModelFile(join(dir, 'base.json.gz'), train(examples).toData({ source: 'test base', trainedAt: 1 }));
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env, SCOP_DATA_DIR: ctx.dataDir, SPAM_DEFAULT_MODEL: join(dir, 'base.json.gz'),
    SPAM_MODEL_TOPIC: topics.model, SPAM_MODEL_HISTORY_TOPIC: topics.history, SPAM_LEARNER_FEEDBACK_TOPIC: topics.feedback, SPAM_LEARNER_RECORDS_TOPIC: topics.input,
    SPAM_LEARNER_ALERTS_TOPIC: topics.alerts, SPAM_LEARNER_PUBLISH_LABELS: '4', SPAM_LEARNER_PUBLISH_INTERVAL_MS: '600000', SPAM_LEARNER_HOLDBACK_PERCENT: '0',
    SPAM_LEARNER_TRANSACTIONAL_ID: uniqueName('learner'), ...env,
  };
  // The scorer publishes the base model on the empty model topic (and makes the signing pair the learner uses).
  const stage = await spamService.run({ ...ctx, env: fullEnv }, { input: topics.input, output: topics.output, deadLetters: topics.deadLetters, groupId: topics.groupId });
  let outRead = 0;
  const scored = new Map<string, MailRecord>();
  return {
    topics, env: fullEnv, dir, stage,
    async score(messages, rcptTo = []) {
      const records = messages.map((m) => testRecord(m, uuidv7(), rcptTo));
      await produce(ctx.kafka, ctx.codec, topics.input, 'MailRecord', records.map((record) => ({ record })));
      outRead += records.length;
      for (const m of await readTopic(ctx.kafka, topics.output, outRead, { settleMs: 0 })) {
        const r = await ctx.codec.decodeAs<MailRecord>(m.value, 'MailRecord');
        scored.set(r.envelope.id, r);
      }
      return records.map((r) => scored.get(r.envelope.id)!);
    },
    async model() {
      const all = await readTopic(ctx.kafka, topics.model, 1, { settleMs: 500 });
      return ctx.codec.decodeAs<SpamModelRecord>(all[all.length - 1]!.value, 'SpamModel');
    },
  };
}

/**
 * `scop run spam-learner` in a child process that publishes nothing by itself: `send` gives it labels,
 * and once it has learnt `learnt` of them it is SIGKILLed (the crash of the exactly-once tests).
 */
export async function learnThenKill(env: NodeJS.ProcessEnv, learnt: number, send: () => Promise<void>): Promise<void> {
  const port = await freePort();
  const childEnv = { ...env, SPAM_LEARNER_PUBLISH_LABELS: '1000', SPAM_LEARNER_METRICS_PORT: String(port), LOG_LEVEL: 'warn' };
  const child = fork(resolve(import.meta.dirname, '../../../cli/main.ts'), ['run', 'spam-learner'], { env: childEnv, execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await new Promise<void>((ok, fail) => { child.once('message', () => ok()); child.once('exit', (c) => fail(new Error(`learner exited ${c}`))); });
    await send();
    const count = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return Number(/scop_spam_learner_labels_total\{[^}]*outcome="learnt"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    await eventually(async () => ((await count()) >= learnt ? true : undefined), 60000, 'the child learnt the labels');
    child.kill('SIGKILL');
    await exited;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** `n` messages of one kind, numbered from `from`. */
export const many = (kind: (i: number) => TestMessage, from: number, n: number): TestMessage[] => Array.from({ length: n }, (_, j) => kind(from + j));
