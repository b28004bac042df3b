/** Worker module for processors/mime/parse-worker.test.ts: parses as the real one, but hangs forever on a message whose subject is "hang". */
import parseTask, { type ParseResult, type ParseTask } from './parse-worker.ts';

export default function (task: ParseTask): Promise<ParseResult> {
  if (Buffer.from(task.raw).includes('Subject: hang\r\n')) for (;;) { /* a stuck parser: only terminating the thread stops it */ }
  return parseTask(task);
}
