/** Ham/spam labels on spam.feedback (keyed by record id, latest wins): `scop spam feedback`, quarantine marks, the console. */
import type { KafkaClient } from '../kafka.ts';
import type { RecordCodec } from '../registry.ts';
import { TOPICS } from '../topics.ts';
import type { SpamFeedback } from '../../schemas/types.ts';
import { sendAll } from './send.ts';

export async function sendFeedback(kafka: KafkaClient, codec: RecordCodec, labels: SpamFeedback | SpamFeedback[], topic: string = TOPICS.spamFeedback.name): Promise<void> {
  const id = await codec.registerSchema(topic, 'SpamFeedback');
  await sendAll(kafka, topic, [labels].flat().map((f) => ({ key: f.recordId, value: codec.encodeWith(id, 'SpamFeedback', f) })));
}
