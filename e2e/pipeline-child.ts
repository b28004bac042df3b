/**
 * One pipeline service in its own process (bench/e2e.ts runs every stage this way, like `scop start`):
 * PIPELINE_SERVICE names it, PIPELINE_TOPICS (JSON) and PIPELINE_GROUP give the topics and group
 * prefix, SCOP_DATA_DIR the data folder. Reports `ready` with its endpoints over IPC; SIGTERM stops it.
 */
import { pipelineContext, startOne, type PipelineTopics } from './pipeline.ts';

const name = process.env.PIPELINE_SERVICE!;
const ctx = pipelineContext(name, process.env, process.env.SCOP_DATA_DIR ?? '.data/bench');
const running = await startOne(name, ctx, JSON.parse(process.env.PIPELINE_TOPICS!) as PipelineTopics, process.env.PIPELINE_GROUP!);
process.send?.({ type: 'ready', endpoints: running.endpoints });
process.on('SIGTERM', () => void running.stop().finally(() => process.exit(0)));
