/**
 * Matrix room commands (egress/matrix/commands.ts): the /sync response the homeserver returns —
 * room members write the events in it — through the CommandListener, with a stub client. The
 * input is either the sync response as JSON (when it starts with '{') or, structured, events from
 * NUL-separated fields (room, sender, body, event id) in groups of four.
 *
 * Invariants: the listener survives any sync response, and a room that refuses an answer (nothing
 * but MatrixClosedError ends it); it
 * answers only events in its rooms, from allowed users other than itself, whose body starts with
 * "!scop"; "!scop status" gets the status text, anything else the usage line; one answer per such
 * event, with a transaction id derived from the event id (a repeated event repeats it, and the
 * homeserver keeps one); the HTML answer is the escaped text in <pre> (no markup from the room).
 */
import escapeHtml from 'escape-html';
import type { MatrixClient } from '../../egress/matrix/client.ts';
import { MatrixClosedError, MatrixError } from '../../egress/matrix/client.ts';
import { CommandListener } from '../../egress/matrix/commands.ts';
import type { Logger } from '../../runtime/log.ts';
import { Fields, joinFields } from '../harness/fields.ts';
import { invariant } from '../harness/invariants.ts';
import { defineTarget, type Seed } from '../harness/target.ts';

const BOT = '@scop:hs.test';
const ROOMS = ['!ops:hs.test', '!alerts:hs.test'];
const ALLOWED = ['@admin:hs.test', '@ops:hs.test'];
const STATUS = 'scop status: 3 rooms, 0 pending <b>&"\'';

interface Sent { roomId: string; txnId: string; content: Record<string, unknown> }

function syncFromFields(data: Buffer): unknown {
  const f = new Fields(data);
  const join: Record<string, { timeline: { events: unknown[] } }> = {};
  for (let i = 0; i + 2 < f.length; i += 4) {
    const room = f.byte(i) % 3 === 2 ? f.utf8(i) : ROOMS[f.byte(i) % 2]!;
    const sender = f.byte(i + 1) % 4 === 3 ? f.utf8(i + 1) : f.byte(i + 1) % 4 === 2 ? BOT : ALLOWED[f.byte(i + 1) % 2]!;
    (join[room] ??= { timeline: { events: [] } }).timeline.events.push({
      event_id: f.utf8(i + 3) || `$e${i}`, type: 'm.room.message', sender, origin_server_ts: 0, content: { msgtype: 'm.text', body: f.utf8(i + 2) },
    });
  }
  return { next_batch: 'b1', rooms: { join } };
}

export default defineTarget({
  name: 'matrix-commands',
  about: 'Matrix room commands: hostile /sync responses through the command listener',
  instrument: ['egress/matrix/commands.ts', 'node_modules/escape-html/'],
  async: true,
  maxLen: 4 * 1024,
  dict: 'matrix.dict',
  budgetMs: 500,
  *seeds(): Generator<Seed> {
    yield { name: 'status', data: joinFields([Buffer.from([0]), Buffer.from([0]), '!scop status', '$a']) };
    yield { name: 'mixed', data: joinFields([Buffer.from([1]), Buffer.from([1]), '  !scop   help ', '$b', Buffer.from([0]), Buffer.from([2]), '!scop status', '$c', Buffer.from([2]), Buffer.from([0]), '!scop status', '$d']) };
    yield { name: 'json', data: Buffer.from(JSON.stringify({ next_batch: 'b1', rooms: { join: { [ROOMS[0]!]: { timeline: { events: [{ event_id: '$j', type: 'm.room.message', sender: ALLOWED[0], origin_server_ts: 1, content: { body: '!scop status' } }] } } } } })) };
  },
  async run(data) {
    let response: unknown;
    if (data[0] === 0x7b) {
      try {
        response = JSON.parse(data.toString('utf8'));
      } catch {
        return; // not JSON: the client's res.json() would have failed first
      }
    } else {
      response = syncFromFields(data);
    }
    const sent: Sent[] = [];
    const errors: string[] = [];
    let syncs = 0;
    const client = {
      userId: BOT,
      async sync() {
        syncs++;
        if (syncs === 1) return { next_batch: 'b0' };
        if (syncs === 2) return response;
        throw new MatrixClosedError('done');
      },
      async send(roomId: string, txnId: string, content: Record<string, unknown>) {
        sent.push({ roomId, txnId, content });
        // A room that refuses the bot's answer (power levels, a ban): an event id with "403" in it.
        if (JSON.stringify(content).includes('403')) throw new MatrixError(403, 'M_FORBIDDEN', 'not allowed to send');
        return '$reply';
      },
    } as unknown as MatrixClient;
    const noop = () => undefined;
    const log = { info: noop, debug: noop, warn: noop, error: (o: unknown, m?: string) => errors.push(`${m} ${JSON.stringify(o)}`) } as unknown as Logger;
    const listener = new CommandListener(client, new Set(ROOMS), new Set(ALLOWED), () => STATUS, log);
    listener.start();
    // Stop only once the response was handled (the third sync) or the listener died.
    for (let spins = 0; syncs < 3 && errors.length === 0; spins++) {
      invariant(spins < 10_000, 'the listener never asked for the next sync');
      await new Promise((ok) => setImmediate(ok));
    }
    await listener.stop();
    invariant(errors.length === 0, () => `the listener stopped: ${errors.join(' | ').slice(0, 300)}`);

    for (const s of sent) {
      invariant(ROOMS.includes(s.roomId), () => `answered in ${s.roomId}, not one of its rooms`);
      invariant(/^scop-c-[0-9a-f]{40}$/.test(s.txnId), () => `transaction id ${s.txnId}`);
      const body = s.content.body;
      invariant(body === STATUS || body === 'unknown command; try: !scop status', () => `answer ${JSON.stringify(body)}`);
      invariant(s.content.formatted_body === `<pre>${escapeHtml(String(body))}</pre>`, 'the HTML answer is not the escaped text');
    }
    // Every well-formed event that must be answered was answered, once; malformed ones are skipped.
    const join = (response as { rooms?: { join?: Record<string, { timeline?: { events?: unknown[] } }> } } | null)?.rooms?.join;
    let expected = 0;
    for (const room of ROOMS) {
      for (const ev of join?.[room]?.timeline?.events ?? []) {
        const e = ev as { sender?: unknown; event_id?: unknown; content?: { body?: unknown } } | null;
        const wellFormed = typeof e?.event_id === 'string' && typeof e.sender === 'string' && typeof e.content === 'object' && e.content !== null;
        if (wellFormed && typeof e.content!.body === 'string' && e.content!.body.trim().startsWith('!scop') && ALLOWED.includes(e.sender as string)) expected++;
      }
    }
    invariant(sent.length === expected, () => `${sent.length} answers for ${expected} commands`);
  },
});
