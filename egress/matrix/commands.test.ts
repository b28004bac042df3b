/**
 * The command listener against a stub client (no homeserver): what a /sync response may hold that
 * the listener must survive. Found by fuzz/targets/matrix-commands.ts: an event without event_id or
 * content, or a room that refused an answer, ended the listener for good.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loggerFor } from '../../runtime/log.ts';
import { MatrixClosedError, MatrixError, type MatrixClient } from './client.ts';
import { CommandListener } from './commands.ts';

const ROOM = '!ops:hs.test';
const ADMIN = '@admin:hs.test';
const command = (id: string, body = '!scop status') => ({ event_id: id, type: 'm.room.message', sender: ADMIN, origin_server_ts: 0, content: { body } });

/** Runs the listener over the given sync responses; returns the rooms/event ids it answered. */
async function answers(responses: unknown[], refuse = new Set<string>()): Promise<string[]> {
  const sent: string[] = [];
  let i = 0;
  let finished = false;
  const client = {
    userId: '@scop:hs.test',
    async sync() {
      if (i === 0) { i++; return { next_batch: 'b0' }; }
      if (i <= responses.length) return responses[i++ - 1];
      finished = true;
      throw new MatrixClosedError('done');
    },
    async send(_room: string, _txn: string, content: { 'm.relates_to': { 'm.in_reply_to': { event_id: string } } }) {
      const id = content['m.relates_to']['m.in_reply_to'].event_id;
      if (refuse.has(id)) throw new MatrixError(403, 'M_FORBIDDEN', 'You are not allowed to send');
      sent.push(id);
      return '$r';
    },
  } as unknown as MatrixClient;
  const listener = new CommandListener(client, new Set([ROOM]), new Set([ADMIN]), () => 'all fine', loggerFor('commands-test'));
  listener.start();
  for (let spins = 0; !finished && spins < 10_000; spins++) await new Promise((ok) => setImmediate(ok));
  await listener.stop();
  assert.ok(finished, 'the listener kept asking for syncs until the end');
  return sent;
}

describe('room command listener on malformed /sync responses', () => {
  it('skips events without event_id, sender or content, and non-list timelines; answers the rest', async () => {
    const sent = await answers([
      { next_batch: 'b1', rooms: { join: { [ROOM]: { timeline: { events: [{ type: 'm.room.message', sender: ADMIN, content: { body: '!scop status' } }, { event_id: '$n', sender: ADMIN, content: null }, null, command('$ok1')] } } } } },
      { next_batch: 'b2', rooms: { join: { [ROOM]: { timeline: { events: { not: 'a list' } } } } } },
      { next_batch: 'b3', rooms: { join: null } },
      null,
      { next_batch: 'b4', rooms: { join: { [ROOM]: { timeline: { events: [command('$ok2')] } } } } },
    ]);
    assert.deepEqual(sent, ['$ok1', '$ok2']);
  });

  it('a room that refuses the answer (403) does not stop the listener', async () => {
    const sent = await answers([{ next_batch: 'b1', rooms: { join: { [ROOM]: { timeline: { events: [command('$refused'), command('$ok')] } } } } }], new Set(['$refused']));
    assert.deepEqual(sent, ['$ok']);
  });
});
