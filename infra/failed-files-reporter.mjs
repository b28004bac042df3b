/**
 * A node:test reporter that writes the files with a failing test, one per line, so the harness
 * (infra/run-tests.ts) can run them again on their own: Node's own reporters name tests, not files.
 * Plain JavaScript because Node loads reporters before tsx's loader is in place.
 */
import { relative } from 'node:path';

/** @param {AsyncIterable<{ type: string, data: { file?: string } }>} source */
export default async function* failedFiles(source) {
  const failed = new Set();
  for await (const event of source) {
    if (event.type !== 'test:fail' || !event.data.file) continue;
    const file = relative(process.cwd(), event.data.file);
    // Written at once, not at the end: --test-force-exit ends the process without a last flush.
    if (!failed.has(file)) { failed.add(file); yield `${file}\n`; }
  }
}
