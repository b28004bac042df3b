import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { boundedWorker, CpuPool, cpuPoolMetrics, CpuPoolFullError, CpuTaskAbortedError, CpuTaskTimeoutError } from './cpu-pool.ts';

type Task = { kind: 'echo' | 'throw' | 'spin' | 'allocate'; value?: number };

describe('cpu pool (worker threads a time limit can stop)', () => {
  const registry = new Registry();
  const pool = new CpuPool<Task, number>({ name: 'test', module: new URL('./cpu-pool.test-worker.ts', import.meta.url), threads: 2, timeoutMs: 60_000, maxHeapMb: 64, registry });
  after(() => pool.close());

  it('runs tasks in workers and returns their results; a task that throws rejects with its error', async () => {
    assert.deepEqual(await Promise.all([1, 2, 3, 4, 5].map((value) => pool.run({ kind: 'echo', value }))), [2, 4, 6, 8, 10]);
    await assert.rejects(pool.run({ kind: 'throw', value: 7 }), (e: Error) => e.name === 'RangeError' && /bad value 7/.test(e.message));
  });

  it('terminates a worker stuck past the time limit, and the pool keeps serving', async () => {
    const t0 = performance.now();
    // Two stuck tasks occupy both threads; both are killed, their replacements serve the next tasks.
    const stuck = [pool.run({ kind: 'spin' }, { timeoutMs: 300 }), pool.run({ kind: 'spin' }, { timeoutMs: 300 })];
    for (const s of stuck) await assert.rejects(s, CpuTaskTimeoutError);
    // Generous: a replacement worker starting on a loaded machine takes seconds.
    assert.ok(performance.now() - t0 < 30_000, `timed out in ${(performance.now() - t0).toFixed(0)} ms`);
    // The main thread was never blocked: a timer fires while a worker spins.
    let ticked = false;
    const spinning = pool.run({ kind: 'spin' }, { timeoutMs: 500 });
    await new Promise<void>((r) => setTimeout(() => { ticked = true; r(); }, 50));
    assert.ok(ticked);
    await assert.rejects(spinning, CpuTaskTimeoutError);
    assert.deepEqual(await Promise.all([pool.run({ kind: 'echo', value: 21 }), pool.run({ kind: 'echo', value: 1 })]), [42, 2]);
    const text = await registry.metrics();
    assert.match(text, /scop_cpu_pool_tasks_total\{pool="test",outcome="timeout"\} 3/);
    assert.match(text, /scop_cpu_pool_tasks_total\{pool="test",outcome="ok"\} \d+/);
  });

  it("the caller's signal stops a running task (its worker is terminated) and refuses one not yet started", async () => {
    const ac = new AbortController();
    const running = pool.run({ kind: 'spin' }, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('record time is up')), 100);
    await assert.rejects(running, (e: Error) => e instanceof CpuTaskAbortedError && /record time is up/.test(e.message));
    await assert.rejects(pool.run({ kind: 'echo', value: 1 }, { signal: AbortSignal.abort() }), CpuTaskAbortedError);
    assert.equal(await pool.run({ kind: 'echo', value: 4 }), 8);
  });

  it('a worker that exhausts its heap limit fails its task, not the process', async () => {
    await assert.rejects(pool.run({ kind: 'allocate' }, { timeoutMs: 120_000 }), (e: Error) => !(e instanceof CpuTaskTimeoutError));
    assert.equal(await pool.run({ kind: 'echo', value: 5 }), 10);
  });

  it('refuses work beyond its queue, and validates its options', async () => {
    const small = new CpuPool<Task, number>({ name: 'small', module: new URL('./cpu-pool.test-worker.ts', import.meta.url), threads: 1, timeoutMs: 3_000, maxQueue: 1 });
    try {
      const a = small.run({ kind: 'spin' });
      const b = small.run({ kind: 'echo', value: 1 }, { timeoutMs: 60_000 });
      await assert.rejects(small.run({ kind: 'echo', value: 2 }), CpuPoolFullError);
      await assert.rejects(a, CpuTaskTimeoutError);
      assert.equal(await b, 2);
    } finally {
      await small.close();
    }
    assert.throws(() => new CpuPool({ name: 'x', module: new URL('./cpu-pool.test-worker.ts', import.meta.url), threads: 0, timeoutMs: 1 }), /threads must be a positive integer/);
  });
});

it('a pool\'s series exist at zero before its first task (a lazily started pool registers them at its user\'s start)', async () => {
  const registry = new Registry();
  cpuPoolMetrics(registry, 'lazy');
  const tasks = (await registry.getSingleMetric('scop_cpu_pool_tasks_total')!.get()).values;
  assert.deepEqual(tasks.map((v) => `${v.labels.pool} ${v.labels.outcome} ${v.value}`).sort(), ['lazy aborted 0', 'lazy error 0', 'lazy ok 0', 'lazy refused 0', 'lazy timeout 0']);
  assert.match(await registry.metrics(), /^scop_cpu_pool_task_seconds_count\{pool="lazy"\} 0$/m);
});

it('a bounded worker: inputs up to the threshold inline, larger ones in a pool started at the first of them; a timeout names the setting', async () => {
  const registry = new Registry();
  const worker = boundedWorker<string, Task, number>({
    pool: { name: 'bounded', module: new URL('./cpu-pool.test-worker.ts', import.meta.url), threads: 1, timeoutMs: 1_000, registry },
    inlineUpTo: 3, sizeOf: (s) => s.length, timeoutKey: 'TEST_TIMEOUT_MS', describe: (n) => `spinning on ${n} characters`,
  });
  try {
    assert.equal(worker.inline('abc'), true);
    assert.equal(worker.inline('abcd'), false);
    const tasks = async (outcome: string) => (await registry.getSingleMetric('scop_cpu_pool_tasks_total')!.get()).values.find((v) => v.labels.pool === 'bounded' && v.labels.outcome === outcome)?.value;
    assert.equal(await tasks('ok'), 0, 'the series exist before the pool starts');
    assert.equal(await worker.run('abcd', { kind: 'echo', value: 4 }), 8);
    await assert.rejects(worker.run('abcd', { kind: 'throw', value: 1 }), (e: Error) => e.name === 'RangeError', "the task's own error passes unchanged");
    await assert.rejects(worker.run('abcdef', { kind: 'spin' }), (e: Error) => e instanceof CpuTaskTimeoutError && e.cause instanceof CpuTaskTimeoutError
      && e.message === 'spinning on 6 characters took longer than 1000 ms (TEST_TIMEOUT_MS); its worker thread was terminated');
    await assert.rejects(worker.run('abcd', { kind: 'echo', value: 1 }, { signal: AbortSignal.abort() }), CpuTaskAbortedError, 'an abort is not a timeout');
    assert.deepEqual([await tasks('ok'), await tasks('error'), await tasks('timeout'), await tasks('aborted')], [1, 1, 1, 1]);
  } finally {
    await worker.close();
  }
  const unused = boundedWorker<string, Task, number>({ pool: { name: 'unused', module: new URL('./cpu-pool.test-worker.ts', import.meta.url), threads: 1, timeoutMs: 1_000 }, inlineUpTo: 0, sizeOf: (s) => s.length, timeoutKey: 'K', describe: String });
  await unused.close(); // never started: nothing to stop
});
