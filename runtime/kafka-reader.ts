/**
 * Random-access reads: the records of one partition from a given offset, without a consumer group.
 * What `raw-ref.ts` needs to fetch a message by reference (topic, partition, offset). kafkajs has no
 * such call (its consumers always join a group), so both KAFKA_CLIENT choices are served by
 * @platformatic/kafka's low-level Fetch here — as the admin side is served by kafkajs for both.
 *
 * One Fetch at a time per reader: the library keeps an incremental fetch session per broker
 * (KIP-227), and concurrent requests on one session would race its epoch. Callers read ahead
 * (one Fetch returns many records), so this is not the bottleneck.
 */
import { Consumer as PConsumer, FetchIsolationLevels, type RecordsBatch } from '@platformatic/kafka';
import { OffsetOutOfRange, type KafkaClientOptions, type KafkaMessage, type KafkaSettings, type RecordReader } from './kafka-types.ts';

/** Bit 5 of a record batch's attributes: a control batch (transaction marker), not records. */
const IS_CONTROL = 0x20;
/** Kafka's OFFSET_OUT_OF_RANGE error code. */
const OFFSET_OUT_OF_RANGE = 1;

type BufConsumer = PConsumer<Buffer, Buffer, Buffer, Buffer>;

/** @platformatic/kafka client options from scop's settings (also used by kafka-platformatic.ts). */
export function platformaticBaseOptions(settings: KafkaSettings, clientOpts: KafkaClientOptions, clientId = settings.clientId) {
  const o: Record<string, unknown> = {
    clientId,
    bootstrapBrokers: settings.brokers,
    connectTimeout: clientOpts.connectionTimeoutMs ?? 3000,
    requestTimeout: clientOpts.requestTimeoutMs ?? 30000,
    retries: clientOpts.retries ?? 5,
    retryDelay: clientOpts.initialRetryTimeMs ?? 300,
  };
  // node:tls options as they are (CA, client certificate and key for mTLS, verification).
  if (settings.ssl) o.tls = settings.ssl === true ? {} : { ...settings.ssl };
  if (settings.sasl) o.sasl = { mechanism: settings.sasl.mechanism.toUpperCase(), username: settings.sasl.username, password: settings.sasl.password };
  return o;
}


/** How long one read may take: the request timeout and a margin for the metadata request before it. */
export const readTimeoutMs = (clientOpts: KafkaClientOptions): number => (clientOpts.requestTimeoutMs ?? 30000) + 5000;

export function createRecordReader(settings: KafkaSettings, clientOpts: KafkaClientOptions = {}): RecordReader {
  let consumer: BufConsumer | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const get = () => (consumer ??= new PConsumer<Buffer, Buffer, Buffer, Buffer>({
    ...platformaticBaseOptions(settings, clientOpts, `${settings.clientId}-reader`),
    // Never joins: Fetch needs no group, but the constructor wants one.
    groupId: `${settings.clientId}-reader-unused`,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  } as unknown as ConstructorParameters<typeof PConsumer<Buffer, Buffer, Buffer, Buffer>>[0]));

  const fetchOnce = async (topic: string, partition: number, offset: bigint, maxBytes: number): Promise<KafkaMessage[]> => {
    const c = get();
    const meta = await c.metadata({ topics: [topic] });
    const t = meta.topics.get(topic);
    const p = t?.partitions[partition];
    if (!t || !p) throw new Error(`no partition ${partition} of topic ${topic}`);
    let res;
    try {
      res = await c.fetch({
        node: p.leader, maxWaitTime: 0, minBytes: 1, maxBytes, isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        topics: [{ topicId: t.id, partitions: [{ partition, fetchOffset: offset, partitionMaxBytes: maxBytes, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] }],
      });
    } catch (e) {
      if (/OFFSET_OUT_OF_RANGE|out of range/i.test(String((e as Error)?.message) + JSON.stringify((e as { errors?: unknown }).errors ?? ''))) {
        throw new OffsetOutOfRange(`offset ${offset} of ${topic}/${partition} is not in the log (expired by retention, or never written)`);
      }
      throw e;
    }
    const part = res.responses[0]?.partitions.find((x) => x.partitionIndex === partition);
    if (!part) return [];
    if (part.errorCode === OFFSET_OUT_OF_RANGE) throw new OffsetOutOfRange(`offset ${offset} of ${topic}/${partition} is not in the log (log starts at ${part.logStartOffset}, ends at ${part.highWatermark})`);
    if (part.errorCode !== 0) throw new Error(`fetching ${topic}/${partition}@${offset} failed with Kafka error code ${part.errorCode}`);
    const out: KafkaMessage[] = [];
    for (const batch of (part.records ?? []) as RecordsBatch[]) {
      if (batch.attributes & IS_CONTROL) continue;
      for (const r of batch.records) {
        const at = batch.firstOffset + BigInt(r.offsetDelta);
        if (at < offset) continue; // a batch starts before the offset asked for
        const headers: Record<string, Buffer> = {};
        for (const [k, v] of r.headers) if (k) headers[k.toString()] = v ?? Buffer.alloc(0);
        out.push({ offset: at.toString(), key: r.key, value: r.value, headers, timestamp: (batch.firstTimestamp + r.timestampDelta).toString() });
      }
    }
    return out;
  };

  // A read that fails, or does not answer in time, drops its client: the next read connects afresh
  // instead of reusing connections and metadata from before a broker restart. And with one Fetch at
  // a time, a read waiting for good would hold every later read (a fused chain's every record).
  const timeoutMs = readTimeoutMs(clientOpts);
  const drop = () => {
    const c = consumer;
    consumer = undefined;
    void c?.close(true).catch(() => {});
  };
  const bounded = (topic: string, partition: number, offset: bigint, maxBytes: number) => new Promise<KafkaMessage[]>((ok, fail) => {
    const t = setTimeout(() => {
      drop();
      fail(new Error(`reading ${topic}/${partition}@${offset} got no answer within ${timeoutMs} ms; the reader reconnects`));
    }, timeoutMs);
    fetchOnce(topic, partition, offset, maxBytes).then(ok, (e: unknown) => {
      if (!(e instanceof OffsetOutOfRange)) drop();
      fail(e);
    }).finally(() => clearTimeout(t));
  });

  return {
    read(topic, partition, offset, maxBytes) {
      const run = queue.then(() => bounded(topic, partition, offset, maxBytes));
      queue = run.catch(() => {});
      return run;
    },
    async close() {
      const c = consumer;
      consumer = undefined;
      await c?.close().catch(() => c.close(true).catch(() => {}));
    },
  };
}
