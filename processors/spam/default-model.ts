/**
 * The default model a fresh install starts with: trained on the SpamAssassin public corpus (all
 * 6,046 messages, through the MIME stage's parser) by `scop spam train --spamassassin --out
 * processors/spam/default-model.json.gz`, and shipped in the repository so the first start needs
 * no training. cli/spam.test.ts checks that the shipped file is what training produces today.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ModelData } from './model.ts';
import { readModelFile } from './model-topic.ts';

export const DEFAULT_MODEL_FILE = fileURLToPath(new URL('./default-model.json.gz', import.meta.url));

export function loadDefaultModel(path = DEFAULT_MODEL_FILE): ModelData | null {
  return existsSync(path) ? readModelFile(path) : null;
}
