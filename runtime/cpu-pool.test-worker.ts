/** Worker module for runtime/cpu-pool.test.ts: tasks that finish, throw, spin forever or allocate without bound. */
export default function task(t: { kind: 'echo' | 'throw' | 'spin' | 'allocate'; value?: number }): number {
  switch (t.kind) {
    case 'echo': return (t.value ?? 0) * 2;
    case 'throw': throw new RangeError(`bad value ${t.value}`);
    case 'spin': for (;;) { /* a synchronous loop no timer can interrupt */ }
    case 'allocate': { const keep: number[][] = []; for (;;) keep.push(new Array(1_000_000).fill(1)); }
  }
}
