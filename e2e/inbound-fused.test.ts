/**
 * e2e/inbound.test.ts again with the inbound chain fused (cli/inbound.ts: mime → decision in
 * one process and one transaction per chunk, as `scop start` runs it by default): the same
 * messages, verdicts, held mail, blocks and retries, with nothing written to the intermediate topics.
 */
process.env.SCOP_E2E_FUSED = '1';
await import('./inbound.test.ts');
