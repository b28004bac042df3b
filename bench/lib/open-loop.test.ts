import assert from 'node:assert/strict';
import { it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { openLoop } from './open-loop.ts';

async function server(refuseEvery = 0): Promise<{ port: number; got: () => number; close: () => Promise<void> }> {
  let n = 0;
  let got = 0;
  const s = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, _s, cb) { stream.resume(); stream.on('end', () => { n++; if (refuseEvery && n % refuseEvery === 0) { const e = Object.assign(new Error('no'), { responseCode: 451 }); cb(e); } else { got++; cb(); } }); } });
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', () => ok()));
  const port = (s.server.address() as { port: number }).port;
  return { port, got: () => got, close: () => new Promise((ok) => s.close(() => ok())) };
}

it('offers messages on the schedule, not as fast as the server answers', async () => {
  const srv = await server();
  try {
    const r = await openLoop({ host: '127.0.0.1', port: srv.port, rate: 20, count: 10, messages: [Buffer.from('Subject: x\r\n\r\nbody\r\n')], sessions: 2, from: 'a@example.test', to: 'b@example.test' });
    assert.equal(r.accepted, 10);
    assert.equal(r.failed, 0);
    assert.equal(srv.got(), 10);
    // Message 9 is due at 450 ms: the run cannot end before it.
    assert.ok(r.ms >= 440, `took ${r.ms} ms`);
    assert.equal(r.offeredToAcceptMs.length, 10);
    assert.ok(r.offeredToAcceptMs.every((x, i, a) => i === 0 || a[i - 1]! <= x), 'sorted');
  } finally {
    await srv.close();
  }
});

it('counts refused messages and keeps the first error', async () => {
  const srv = await server(2);
  try {
    const r = await openLoop({ host: '127.0.0.1', port: srv.port, rate: 50, count: 6, messages: [Buffer.from('Subject: x\r\n\r\nbody\r\n')], sessions: 1, from: 'a@example.test', to: 'b@example.test' });
    assert.equal(r.accepted + r.failed, 6);
    assert.equal(r.failed, 3);
    assert.match(r.firstError ?? '', /451/);
  } finally {
    await srv.close();
  }
});
