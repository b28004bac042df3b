/**
 * Preloaded into `npm test`'s runner and every test file's process (infra/run-tests.ts). Each file's
 * process streams its results to the runner over its stdout, a pipe; `--test-force-exit` ends the
 * process as soon as its tests are done, and writes still queued in that pipe are lost: the runner
 * then reports fewer tests than ran, with exit code 0 (nodejs/node#64833, open; measured here on
 * Node 24.21: 40 files × 50 tests reported 1,660–1,923 of 2,000; a CI run lost the last 6 tests of
 * cli/header-field-names.test.ts). A blocking stdout finishes every write before exit.
 */
process.stdout._handle?.setBlocking?.(true);
