/** The firewall stage's settings, from the environment (README "Configuration"). */
import { z } from 'zod';
import { envInt, loadEnv } from '../../runtime/config.ts';

const number = z.coerce.number().refine(Number.isFinite, 'must be a number');

const shape = {
  FIREWALL_HALF_LIFE_SECONDS: envInt(1).default(6 * 3600),
  FIREWALL_BLOCK_SCORE: number.default(5),
  FIREWALL_BLOCK_MIN_MESSAGES: envInt(1).default(5),
  FIREWALL_BLOCK_SECONDS: envInt(1).default(3600),
  FIREWALL_SPAM_WEIGHT: number.default(1),
  FIREWALL_UNSURE_WEIGHT: number.default(0.25),
  FIREWALL_HAM_WEIGHT: number.default(-0.1),
  FIREWALL_AUTH_FAILURE_WEIGHT: number.default(0.5),
};

const help = {
  FIREWALL_HALF_LIFE_SECONDS: 'seconds after which a reputation score has halved (at least 1), e.g. FIREWALL_HALF_LIFE_SECONDS=21600',
  FIREWALL_BLOCK_SCORE: 'prefix score from which the prefix is blocked, e.g. FIREWALL_BLOCK_SCORE=5',
  FIREWALL_BLOCK_MIN_MESSAGES: 'messages a prefix must have sent before it can be blocked (at least 1), e.g. FIREWALL_BLOCK_MIN_MESSAGES=5',
  FIREWALL_BLOCK_SECONDS: 'how long a block lasts, in seconds (at least 1), e.g. FIREWALL_BLOCK_SECONDS=3600',
  FIREWALL_SPAM_WEIGHT: 'what a spam verdict adds to the score, e.g. FIREWALL_SPAM_WEIGHT=1',
  FIREWALL_UNSURE_WEIGHT: 'what an unsure spam verdict adds, e.g. FIREWALL_UNSURE_WEIGHT=0.25',
  FIREWALL_HAM_WEIGHT: 'what a ham verdict adds (negative: good mail redeems), e.g. FIREWALL_HAM_WEIGHT=-0.1',
  FIREWALL_AUTH_FAILURE_WEIGHT: 'what a DMARC failure (or an SPF fail without DMARC) adds, e.g. FIREWALL_AUTH_FAILURE_WEIGHT=0.5',
};

export function loadFirewallConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadEnv(shape, help, env);
  return {
    halfLifeMs: c.FIREWALL_HALF_LIFE_SECONDS * 1000,
    blockScore: c.FIREWALL_BLOCK_SCORE,
    blockMinMessages: c.FIREWALL_BLOCK_MIN_MESSAGES,
    blockMs: c.FIREWALL_BLOCK_SECONDS * 1000,
    weights: { spam: c.FIREWALL_SPAM_WEIGHT, unsure: c.FIREWALL_UNSURE_WEIGHT, ham: c.FIREWALL_HAM_WEIGHT, authFailure: c.FIREWALL_AUTH_FAILURE_WEIGHT },
  };
}

export type FirewallConfig = ReturnType<typeof loadFirewallConfig>;
