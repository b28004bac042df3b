/** Worker module for processors/spam/service.test.ts: tokenizes as the real one, but hangs forever on the subject "hang". */
import tokenizeTask, { type TokenizeTask } from './tokenize-worker.ts';

export default function (task: TokenizeTask): string[] {
  if (task.input.subject === 'hang') for (;;) { /* a stuck tokenizer: only terminating the thread stops it */ }
  return tokenizeTask(task);
}
