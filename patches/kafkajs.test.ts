/**
 * Regression tests for patches/kafkajs+2.2.4.patch, two hunks to send upstream:
 * - Request queue (tulios/kafkajs#1704, #1751, PR #1768): it re-armed a check timer after every
 *   check, even with nothing pending and no throttling: a 1 ms timer per broker connection, forever
 *   (CPU for nothing), and on Node 24 a TimeoutNegativeWarning on stderr (the delay was
 *   throttledUntil − now, i.e. −Date.now()).
 * - Transaction coordinators (eosManager): kafkajs sent FindCoordinator before every transaction
 *   request (AddPartitionsToTxn, AddOffsetsToTxn, the group's TxnOffsetCommit, EndTxn): about five
 *   per transaction. The patch keeps the coordinators and looks one up again only after a request
 *   to it failed with NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS or a
 *   connection error. It also makes TxnOffsetCommit retry with a new group coordinator on kafkajs'
 *   own names for those errors (its lists spelled them as the protocol does, so they never matched).
 *   These run against the test broker; the coordinator's errors are injected into kafkajs' broker
 *   requests (a single broker is always the coordinator), so every path that must look up again is
 *   taken, and one that must not (CONCURRENT_TRANSACTIONS) is checked too.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { createKafkaClient, type Admin } from '../runtime/kafka.ts';
import { testKafka, uniqueName } from '../runtime/testing.ts';

const require = createRequire(import.meta.url);
interface Queue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
  maybeThrottle(ms: number): void;
  destroy(): void;
}
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (opts: Record<string, unknown>) => Queue;
const logger = { debug() {}, info() {}, warn() {}, error() {} };
const queue = () => new RequestQueue({ instrumentationEmitter: null, maxInFlightRequests: 1, requestTimeout: 30000, enforceRequestTimeout: true, clientId: 'test', broker: 'b:1', logger });

describe('kafkajs request queue (patched)', () => {
  it('schedules no check when nothing is pending, so an idle connection costs no timer', () => {
    const q = queue();
    q.checkPendingRequests();
    assert.equal(q.throttleCheckTimeoutId, null, 'no timer armed for an empty queue');
    q.destroy();
  });

  it('still schedules a check for pending requests, after the throttle delay', () => {
    const q = queue();
    q.pending.push({});
    q.maybeThrottle(5000);
    q.scheduleCheckPendingRequests();
    const timer = q.throttleCheckTimeoutId as unknown as { _idleTimeout: number } | null;
    assert.ok(timer, 'a timer is armed while a request waits');
    assert.ok(timer._idleTimeout > 4000 && timer._idleTimeout <= 5000, `armed for the throttle delay, got ${timer._idleTimeout} ms`);
    q.destroy();
  });
});


type BrokerRequest = (this: unknown, args: { transactionalId?: string }) => Promise<unknown>;
const Broker = require('kafkajs/src/broker/index.js') as { prototype: Record<'addPartitionsToTxn' | 'txnOffsetCommit' | 'endTxn', BrokerRequest> };
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode(code: number): Error };
const { KafkaJSConnectionError } = require('kafkajs/src/errors.js') as { KafkaJSConnectionError: new (message: string) => Error };

/** Makes the next `method` request of this transactional id fail with `error` before it is sent. */
function failNext(method: 'addPartitionsToTxn' | 'txnOffsetCommit' | 'endTxn', transactionalId: string, error: () => Error): { fired: () => boolean } {
  const original = Broker.prototype[method];
  let fired = false;
  Broker.prototype[method] = function (this: unknown, args) {
    if (!fired && args.transactionalId === transactionalId) {
      fired = true;
      Broker.prototype[method] = original;
      return Promise.reject(error());
    }
    return original.call(this, args);
  };
  return { fired: () => fired };
}

describe('kafkajs transaction coordinators (patched)', () => {
  const topics = [uniqueName('coord-a'), uniqueName('coord-b')];
  const groupId = uniqueName('coord-group');
  let admin: Admin;
  let kafka: Kafka;

  before(async () => {
    admin = createKafkaClient(testKafka('coord-admin')).admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: topics.map((topic) => ({ topic, numPartitions: 1 })) });
    kafka = new Kafka({ clientId: 'coord-test', brokers: testKafka().brokers, logLevel: logLevel.NOTHING });
  });

  after(async () => {
    await admin.deleteTopics({ topics }).catch(() => {});
    await admin.disconnect();
  });

  /** A transactional producer and the FindCoordinator requests it sends (kafkajs' name: GroupCoordinator). */
  async function producerCountingLookups(): Promise<{ producer: Producer; transactionalId: string; lookups: () => number }> {
    const transactionalId = uniqueName('coord-txn');
    const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, retry: { initialRetryTime: 25, retries: 5 } });
    let lookups = 0;
    producer.on(producer.events.REQUEST, (e) => { if (e.payload.apiName === 'GroupCoordinator') lookups++; });
    await producer.connect();
    return { producer, transactionalId, lookups: () => lookups };
  }

  let offset = 0;
  /** One read-process-write transaction: a record to each topic, the group's offset, commit. */
  async function transaction(producer: Producer): Promise<void> {
    const txn = await producer.transaction();
    try {
      for (const topic of topics) await txn.send({ topic, messages: [{ value: Buffer.from(`r${offset}`) }] });
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: topics[0]!, partitions: [{ partition: 0, offset: String(++offset) }] }] });
      await txn.commit();
    } catch (e) {
      await txn.abort().catch(() => {});
      throw e;
    }
  }

  const committedOffset = async () => (await admin.fetchOffsets({ groupId, topics: [topics[0]!] }))[0]!.partitions[0]!.offset;

  /**
   * The group's committed offset once it reaches `expected` (or the last one read after 10 s). A
   * transactional offset commit becomes readable when the coordinator has written the commit markers,
   * which it does after EndTxn has answered; kafkajs' OffsetFetch cannot ask for stable offsets
   * (require_stable), so on a loaded broker the previous offset can still be read right after commit.
   */
  async function settledOffset(expected: string): Promise<string> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const o = await committedOffset();
      if (o === expected || Date.now() > deadline) return o;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('looks each coordinator up once, not before every transaction request', async () => {
    const { producer, lookups } = await producerCountingLookups();
    try {
      // The first transaction looks up the transaction coordinator (InitProducerId) and the group
      // coordinator (TxnOffsetCommit); more than once each on a fresh broker, which answers
      // COORDINATOR_NOT_AVAILABLE while it creates its internal topics.
      await transaction(producer);
      const start = lookups();
      assert.ok(start >= 2, `the counter sees the first lookups (${start})`);
      for (let i = 0; i < 5; i++) await transaction(producer);
      // Unpatched: 5 per transaction (2 AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn) = 25.
      assert.equal(lookups() - start, 0, 'FindCoordinator requests for five more transactions');
      assert.equal(await settledOffset(String(offset)), String(offset), 'every transaction committed its offset');
    } finally {
      await producer.disconnect();
    }
  });

  /**
   * A warmed-up producer whose next `method` request fails with `error`: one transaction through it
   * (retried inside kafkajs), then `check` gets the FindCoordinator requests counted since the
   * injection; every transaction must have committed its offset.
   */
  async function afterInjectedFailure(
    method: 'addPartitionsToTxn' | 'txnOffsetCommit',
    error: () => Error,
    check: (newLookups: () => number, producer: Producer) => Promise<void>,
  ): Promise<void> {
    const { producer, transactionalId, lookups } = await producerCountingLookups();
    try {
      await transaction(producer);
      const start = lookups();
      const injected = failNext(method, transactionalId, error);
      await transaction(producer);
      assert.ok(injected.fired(), 'the error was injected');
      await check(() => lookups() - start, producer);
      assert.equal(await settledOffset(String(offset)), String(offset), 'every transaction committed its offset');
    } finally {
      await producer.disconnect();
    }
  }

  const stale: [string, () => Error][] = [
    ['NOT_COORDINATOR', () => createErrorFromCode(16)],
    ['COORDINATOR_NOT_AVAILABLE', () => createErrorFromCode(15)],
    ['COORDINATOR_LOAD_IN_PROGRESS', () => createErrorFromCode(14)],
    ['a connection error', () => new KafkaJSConnectionError('Connection error: injected by the test')],
  ];
  for (const [name, error] of stale) {
    it(`looks the transaction coordinator up again after ${name}, and the send is retried there`, () =>
      afterInjectedFailure('addPartitionsToTxn', error, async (newLookups, producer) => {
        assert.equal(newLookups(), 1, 'one new lookup after the error (none if the stale coordinator were kept)');
        await transaction(producer);
        assert.equal(newLookups(), 1, 'and kept again afterwards');
      }));
  }

  it('keeps the coordinator after an error that does not concern it (CONCURRENT_TRANSACTIONS, retried)', () =>
    afterInjectedFailure('addPartitionsToTxn', () => createErrorFromCode(51), async (newLookups) => {
      assert.equal(newLookups(), 0, 'no new lookup');
    }));

  // Unpatched, the transaction fails: kafkajs' retry list spelled the error NOT_COORDINATOR.
  it('TxnOffsetCommit refused with NOT_COORDINATOR: retried at a group coordinator looked up again', () =>
    afterInjectedFailure('txnOffsetCommit', () => createErrorFromCode(16), async (newLookups) => {
      assert.equal(newLookups(), 1, 'the group coordinator looked up again');
    }));
});
