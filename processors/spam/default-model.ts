/**
 * The default model a fresh install starts with: trained on every shippable corpus (README "The
 * default model") by `scop spam train --corpora --out processors/spam/default-model.json.gz`, and
 * shipped in the repository so the first start needs no training. cli/spam.test.ts checks the
 * shipped file (tokenizer version, calibration, unsure band, no non-commercial corpus in its source).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ModelData } from './model.ts';
import { readModelFile } from './model-topic.ts';

export const DEFAULT_MODEL_FILE = fileURLToPath(new URL('./default-model.json.gz', import.meta.url));

export function loadDefaultModel(path = DEFAULT_MODEL_FILE): ModelData | null {
  return existsSync(path) ? readModelFile(path) : null;
}
