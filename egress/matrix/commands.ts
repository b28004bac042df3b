/**
 * Room commands: `!scop status` from a user in MATRIX_COMMAND_USERS, in one of the notifier's
 * rooms, is answered with the notifier's state. Listens with /sync long polls from the moment it
 * starts (older messages are not answered); the reply's transaction id comes from the command's
 * event id, so a command is answered once even if a sync is repeated.
 */
import { createHash } from 'node:crypto';
import escapeHtml from 'escape-html';
import type { Logger } from '../../runtime/log.ts';
import { MatrixClosedError, MatrixError, type MatrixClient } from './client.ts';

const noState = { types: [] as string[] };

export class CommandListener {
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: MatrixClient,
    private readonly rooms: Set<string>,
    private readonly allowed: Set<string>,
    private readonly status: () => string,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.loop = this.run().catch((e: unknown) => {
      if (!(e instanceof MatrixClosedError)) this.log.error({ err: (e as Error).message }, 'room command listener stopped');
    });
  }

  private async run(): Promise<void> {
    const rooms = [...this.rooms];
    const filter = (limit: number) => ({
      presence: noState, account_data: noState,
      room: { rooms, state: noState, ephemeral: noState, account_data: noState, timeline: { types: ['m.room.message'], limit } },
    });
    // The first sync only finds where "now" is: commands sent before the start are not answered.
    let since = (await this.client.sync({ timeoutMs: 0, filter: filter(0) })).next_batch;
    while (!this.stopped) {
      const r = await this.client.sync({ since, filter: filter(50) });
      // The homeserver relays what room members and other servers wrote: take nothing's shape on trust.
      if (typeof r?.next_batch === 'string') since = r.next_batch;
      const join: unknown = r?.rooms?.join;
      if (typeof join !== 'object' || join === null) continue;
      for (const [roomId, room] of Object.entries(join as Record<string, { timeline?: { events?: unknown } } | null>)) {
        if (!this.rooms.has(roomId)) continue;
        const events = room?.timeline?.events;
        for (const ev of Array.isArray(events) ? events : []) {
          try {
            await this.onMessage(roomId, ev);
          } catch (e) {
            // One command that cannot be answered (the room refuses us, say) must not end the listener.
            if (e instanceof MatrixClosedError || !(e instanceof MatrixError)) throw e;
            this.log.warn({ roomId, err: e.message }, 'room command not answered');
          }
        }
      }
    }
  }

  private async onMessage(roomId: string, raw: unknown): Promise<void> {
    const ev = raw as { event_id?: unknown; sender?: unknown; content?: unknown } | null;
    if (typeof ev?.event_id !== 'string' || typeof ev.sender !== 'string' || typeof ev.content !== 'object' || ev.content === null) return;
    const content = ev.content as Record<string, unknown>;
    const body = typeof content.body === 'string' ? content.body.trim() : '';
    if (!body.startsWith('!scop') || ev.sender === this.client.userId) return;
    if (!this.allowed.has(ev.sender)) {
      this.log.info({ roomId, sender: ev.sender }, 'room command from a user not in MATRIX_COMMAND_USERS; ignored');
      return;
    }
    const text = body === '!scop status' ? this.status() : 'unknown command; try: !scop status';
    const txnId = `scop-c-${createHash('sha256').update(ev.event_id).digest('hex').slice(0, 40)}`;
    await this.client.send(roomId, txnId, {
      msgtype: 'm.notice', body: text, format: 'org.matrix.custom.html',
      formatted_body: `<pre>${escapeHtml(text)}</pre>`,
      'm.relates_to': { 'm.in_reply_to': { event_id: ev.event_id } },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
