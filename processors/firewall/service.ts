/**
 * The firewall: two stages in one process sharing the reputation table.
 *
 *  1. `firewall` — mail.inbound.scored → mail.inbound.screened: adds the `firewall` section (the
 *     client prefix's and sender domain's reputation as known now) and emits one ReputationEvent per
 *     subject on firewall.events, keyed by subject, in the same transaction.
 *  2. `firewall-reputation` — firewall.events → firewall.reputation (compacted, same partition
 *     count, same key, so a subject's state lives in the partition its events do and partitions
 *     shard the state): applies each event (decay, weight), and when a prefix crosses the block
 *     threshold writes a Block to firewall.blocklist and an alert to ops.alerts, in the same
 *     transaction as the new state and the input offset.
 */
import { alertId, newAlert } from '../../runtime/alerts.ts';
import type { RunningService, ServiceContext, ServiceDefinition } from '../../runtime/service.ts';
import { defineStage, defineTransform, type RunningStage, type StageOverrides } from '../../runtime/stage.ts';
import { TOPICS } from '../../runtime/topics.ts';
import type { Block, FirewallSection, MailRecord, Reputation, ReputationEvent } from '../../schemas/types.ts';
import { loadFirewallConfig, type FirewallConfig } from './config.ts';
import { applyEvent, decayed, messageEvent, prefixOf, senderDomain } from './reputation.ts';
import { ReputationTable } from './table.ts';
import { firewallSymbols } from './symbols.ts';
import { FIREWALL_SYMBOLS } from './symbol-names.ts';

export const STAGE_VERSION = '1.0.0';

interface FirewallState { cfg: FirewallConfig; table: ReputationTable }

function blockFor(r: Reputation, cfg: FirewallConfig): Block {
  const prefix = r.subject.slice('ip:'.length);
  return {
    prefix, createdAt: Date.now(), expiresAt: r.blockedUntil, source: 'firewall',
    reason: `poor reputation: ${r.spam} spam and ${r.authFailures} authentication failures in ${r.messages} messages (score ${r.score.toFixed(1)} >= ${cfg.blockScore})`,
  };
}

export function firewallStages(table: ReputationTable, cfg: FirewallConfig) {
  const screen = defineStage<FirewallState, 'firewall'>({
    name: 'firewall',
    symbols: FIREWALL_SYMBOLS,
    section: 'firewall',
    version: STAGE_VERSION,
    description: 'adds client prefix and sender domain reputation; emits reputation events',
    input: TOPICS.inboundScored,
    output: TOPICS.inboundScreened,
    sideOutputs: { events: TOPICS.firewallEvents },
    // Reads the envelope and the auth section, never the raw message.
    needsRaw: false,
    defaultMetricsPort: 9474,
    init: () => ({ cfg, table }),
    process(record, ctx) {
      const e = record.envelope;
      let prefix: string;
      try {
        prefix = prefixOf(e.clientIp);
      } catch {
        throw new Error(`client address "${e.clientIp}" is not an IP address`);
      }
      const now = Date.now();
      const ipKey = `ip:${prefix}`;
      const ip = table.get(ipKey);
      const domain = senderDomain(record);
      const dom = domain ? table.get(`domain:${domain}`) : undefined;
      const section: FirewallSection = {
        clientPrefix: prefix,
        prefixScore: ip ? decayed(ip.score, ip.updatedAt, e.receivedAt, cfg.halfLifeMs) : 0,
        prefixMessages: ip?.messages ?? 0,
        prefixBlocked: ip?.blockedUntil !== null && ip?.blockedUntil !== undefined && ip.blockedUntil > now,
        senderDomain: domain,
        domainScore: domain ? (dom ? decayed(dom.score, dom.updatedAt, e.receivedAt, cfg.halfLifeMs) : 0) : null,
        checkedAt: now,
        stageVersion: STAGE_VERSION,
      };
      ctx.emit('events', ipKey, messageEvent(record, ipKey, cfg));
      if (domain) ctx.emit('events', `domain:${domain}`, messageEvent(record, `domain:${domain}`, cfg));
      return { section, symbols: firewallSymbols(section) };
    },
  });

  const reputation = defineTransform<FirewallState, ReputationEvent, Reputation>({
    name: 'firewall-reputation',
    version: STAGE_VERSION,
    description: 'keeps reputation per client prefix and sender domain; blocks prefixes past the threshold',
    input: TOPICS.firewallEvents,
    output: TOPICS.firewallReputation,
    sideOutputs: { blocks: TOPICS.blocklist, alerts: TOPICS.alerts },
    defaultMetricsPort: 9474,
    // One at a time: events of one subject build on each other.
    concurrency: 1,
    recordId: (ev) => ev.recordId,
    receivedAt: () => null,
    init: () => ({ cfg, table }),
    async process(ev, ctx) {
      await table.sync(1000);
      const offset = Number(ctx.source.offset);
      const cur = table.get(ev.subject);
      const publishBlock = (r: Reputation) => {
        const block = blockFor(r, cfg);
        ctx.emit('blocks', block.prefix, block);
        ctx.emit('alerts', `block|${block.prefix}`, newAlert({
          id: alertId('firewall', 'block', r.subject, r.blockEventOffset, ctx.source.partition), kind: 'block', severity: 'warning', source: 'firewall',
          summary: `blocked ${block.prefix} until ${new Date(r.blockedUntil ?? 0).toISOString()}`, subject: block.prefix, recordId: ev.recordId,
          details: { reason: block.reason, expiresAt: new Date(r.blockedUntil ?? 0).toISOString(), lastClient: ev.clientIp ?? '' },
        }));
        ctx.log.warn({ prefix: block.prefix, score: r.score, messages: r.messages, expiresAt: r.blockedUntil }, 'prefix blocked');
      };
      if (cur && cur.lastEventOffset >= offset) {
        // Replayed (an aborted transaction already updated the table): same output, same block.
        if (cur.blockEventOffset === offset) publishBlock(cur);
        return cur;
      }
      const { next, block } = applyEvent(cur, ev, offset, cfg, Date.now());
      table.set(next);
      if (block) publishBlock(next);
      return next;
    },
  });
  return { screen, reputation };
}

export interface FirewallOverrides {
  screen?: StageOverrides;
  reputation?: StageOverrides;
  /** The reputation topic the table follows (must be the reputation stage's output). */
  reputationTopic?: string;
}

export interface RunningFirewall extends RunningService {
  table: ReputationTable;
  stages: RunningStage[];
}

/**
 * The reputation table and the reputation stage, then `runScreen` runs the screen stage — alone
 * (`scop run firewall`) or as a member of a fused chain (cli/inbound.ts). Stopped in reverse.
 */
export async function startFirewallWith(ctx: ServiceContext, o: Pick<FirewallOverrides, 'reputation' | 'reputationTopic'>, runScreen: (screen: ReturnType<typeof firewallStages>['screen']) => Promise<RunningStage>): Promise<RunningFirewall> {
  const cfg = loadFirewallConfig(ctx.env);
  const table = new ReputationTable({ kafka: ctx.kafka, codec: ctx.codec, topic: o.reputationTopic ?? TOPICS.firewallReputation.name, log: ctx.log.child({ component: 'firewall-table' }), health: ctx.health, metrics: ctx.metrics });
  await table.start();
  const stages: RunningStage[] = [];
  const stop = async () => {
    for (const s of [...stages].reverse()) await s.stop();
    await table.stop();
  };
  try {
    const { screen, reputation } = firewallStages(table, cfg);
    stages.push(await reputation.run(ctx, o.reputation));
    stages.push(await runScreen(screen));
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
  return { table, stages, endpoints: {}, stop };
}

export function startFirewall(ctx: ServiceContext, o: FirewallOverrides = {}): Promise<RunningFirewall> {
  return startFirewallWith(ctx, o, (screen) => screen.run(ctx, o.screen));
}

export const firewallService: ServiceDefinition = {
  name: 'firewall',
  symbols: FIREWALL_SYMBOLS,
  description: 'firewall: reputation per client prefix and sender domain, blocks prefixes with poor reputation',
  metricsPortEnv: 'FIREWALL_METRICS_PORT',
  defaultMetricsPort: 9474,
  start: (ctx) => startFirewall(ctx),
};
