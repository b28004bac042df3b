/**
 * Re-driving dead letters after a fix: the original key, value and headers of each chosen dead
 * letter (read back from ops.dead-letters by partition and offset) go back to the topic they came
 * from, with a `scop-redriven-from` header naming the dead letter, so the stage processes them again.
 */
import type { KafkaClient } from '../kafka.ts';
import type { RecordCodec } from '../registry.ts';
import { TOPICS } from '../topics.ts';
import { readTopicRange } from '../topic-reader.ts';
import type { DeadLetter } from '../../schemas/types.ts';
import { sendAll, type OutMessage } from './send.ts';

export interface DeadLetterRef { partition: number; offset: string }

/** Re-drives the given dead letters; returns the refs re-driven (a ref no longer on the topic is skipped). */
export async function redriveDeadLetters(kafka: KafkaClient, codec: RecordCodec, refs: DeadLetterRef[], topic: string = TOPICS.deadLetters.name): Promise<DeadLetterRef[]> {
  if (refs.length === 0) return [];
  const wanted = new Set(refs.map((r) => `${r.partition}:${r.offset}`));
  const first = refs.reduce((min, r) => (BigInt(r.offset) < min ? BigInt(r.offset) : min), BigInt(refs[0]!.offset));
  const byTopic = new Map<string, OutMessage[]>();
  const done: DeadLetterRef[] = [];
  await readTopicRange(kafka, topic, { kind: 'offset', offset: first }, async (m, partition) => {
    const ref = `${partition}:${m.offset}`;
    if (!wanted.has(ref) || !m.value) return;
    const dl = await codec.decodeAs<DeadLetter>(m.value, 'DeadLetter');
    const headers: Record<string, string | Buffer> = { ...dl.headers, 'scop-redriven-from': `${topic}:${ref}` };
    const out = byTopic.get(dl.sourceTopic) ?? [];
    out.push({ key: dl.key, value: dl.value, headers });
    byTopic.set(dl.sourceTopic, out);
    done.push({ partition, offset: m.offset });
  });
  for (const [t, messages] of byTopic) await sendAll(kafka, t, messages);
  return done;
}
