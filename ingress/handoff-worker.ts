/**
 * The Kafka hand-off's worker thread (see handoff-thread.ts): runs a KafkaHandoff and answers each
 * record with its outcome. Both directions gather what one turn of the event loop produced into
 * one message: a postMessage costs tens of microseconds, more than anything else per record.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loggerFor } from '../runtime/log.ts';
import { HandoffError, KafkaHandoff, type HandoffOptions } from './handoff.ts';

/** [id, topic, key, value]: records gathered over one turn of the main thread's event loop. */
export type Outgoing = [number, string, string, Uint8Array];

export type ToWorker =
  | { type: 'publish'; records: Outgoing[] }
  | { type: 'stop' };

export type Outcome = { id: number } | { id: number; reason: HandoffError['reason']; message: string };

export type FromWorker =
  | { type: 'started' }
  | { type: 'start-failed'; message: string }
  | { type: 'settled'; outcomes: Outcome[] }
  | { type: 'stopped' };

export type WorkerOptions = Omit<HandoffOptions, 'log'>;

const port = parentPort!;
const log = loggerFor('ingress-handoff');
const handoff = new KafkaHandoff({ ...(workerData as WorkerOptions), log });
const send = (m: FromWorker) => port.postMessage(m);

let outcomes: Outcome[] = [];
const settle = (o: Outcome) => {
  if (outcomes.length === 0) setImmediate(() => { send({ type: 'settled', outcomes }); outcomes = []; });
  outcomes.push(o);
};

port.on('message', (m: ToWorker) => {
  if (m.type === 'publish') {
    for (const [id, topic, key, bytes] of m.records) {
      // The key is the record id; the header carries it too, for tools that read headers only.
      handoff.publish(topic, key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { 'scop-record-id': key }).then(
        () => settle({ id }),
        (e: Error) => settle({ id, reason: e instanceof HandoffError ? e.reason : 'kafka', message: e.message }),
      );
    }
  } else if (m.type === 'stop') {
    void handoff.stop().then(() => {
      if (outcomes.length) send({ type: 'settled', outcomes });
      outcomes = [];
      send({ type: 'stopped' });
    });
  }
});

handoff.start().then(
  () => send({ type: 'started' }),
  (e: Error) => send({ type: 'start-failed', message: e.message }),
);
