/**
 * A stage for runtime/stage.test.ts and the client conformance suite: a section stage that writes
 * the `firewall` section with clientPrefix `processed:<helo>` and one symbol, FIXTURE_SEEN{<helo>}. The raw body steers it: `THROW…`
 * makes process() throw, `HANG…` never returns, `TRANS…` fails transiently forever (a stuck stage); FIXTURE_DELAY_MS slows every record (so a test can
 * kill or freeze it mid-stream).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineStage, runChain, TransientError, type StageOverrides } from './stage.ts';
import type { ServiceContext } from './service.ts';
import { TOPICS } from './topics.ts';

const delayMs = Number(process.env.FIXTURE_DELAY_MS ?? 0);

export const fixtureStage = defineStage<undefined, 'firewall'>({
  name: 'fixture',
  section: 'firewall',
  version: '0.0.1',
  description: 'test fixture: marks records processed',
  input: TOPICS.inboundRaw,
  output: TOPICS.inboundRaw,
  defaultMetricsPort: 0,
  processTimeoutMs: 1500,
  maxRecordsPerTransaction: 20,
  async process(record, ctx) {
    const head = record.envelope.raw.subarray(0, 5).toString('latin1');
    if (head === 'THROW') throw new Error('fixture refused this record');
    if (head === 'TRANS') throw new TransientError('fixture: the server it needs is down');
    if (head === 'HANG.') await new Promise((_, fail) => ctx.signal.addEventListener('abort', () => fail(new Error('aborted')))); // until the time limit
    if (delayMs) await sleep(delayMs);
    return {
      section: {
        clientPrefix: `processed:${record.envelope.helo}`, prefixScore: 0, prefixMessages: 0, prefixBlocked: false,
        senderDomain: null, domainScore: null, checkedAt: Date.now(), stageVersion: '0.0.1',
      },
      symbols: [{ symbol: 'FIXTURE_SEEN', score: null, options: [record.envelope.helo] }],
    };
  },
});

/** Chain fixtures (runtime/fusion.test.ts): the first reads the raw topic and writes the `firewall` section like fixtureStage. */
export const fixtureFirst = defineStage<undefined, 'firewall'>({
  ...fixtureStage.stage,
  name: 'fixture-first',
  output: TOPICS.inboundParsed,
});

/**
 * …the second reads the first's output without its raw bytes (needsRaw: false) and decides:
 * `quarantine` when the HELO starts with "hold", held whole on the quarantine side output.
 */
export const fixtureHold = defineStage<undefined, 'decision'>({
  name: 'fixture-hold',
  section: 'decision',
  version: '0.0.1',
  description: 'test fixture: holds records whose HELO starts with "hold"',
  input: TOPICS.inboundParsed,
  output: TOPICS.inboundDecided,
  sideOutputs: { quarantine: TOPICS.quarantine },
  needsRaw: false,
  defaultMetricsPort: 0,
  processTimeoutMs: 1500,
  process(record) {
    if (record.envelope.helo === 'refuse.example') throw new Error('fixture-hold refused this record');
    return { section: { action: record.envelope.helo.startsWith('hold') ? 'quarantine' : 'deliver', reasons: ['fixture'], spamScore: null, reputation: null, decidedAt: Date.now(), stageVersion: '0.0.1', score: null, thresholds: [], forcedBy: null, weighed: [], policyVersion: null, policyDomain: null } };
  },
  afterMerge(record, ctx) {
    if (record.decision?.action === 'quarantine') ctx.emit('quarantine', record.envelope.id, record);
  },
});

/** fixtureFirst and fixtureHold fused, runnable as a child like a stage (runtime/fusion.test.ts SIGKILLs it). */
export const fixtureChain = {
  name: 'fixture-chain',
  run: (ctx: ServiceContext, overrides: StageOverrides = {}) => runChain(ctx, [{ stage: fixtureFirst.stage }, { stage: fixtureHold.stage }], { name: 'fixture-chain', description: 'test chain', defaultMetricsPort: 0 }, overrides),
};
