/**
 * Test helper, run by ingress/flood.test.ts as `unshare -rn node --import tsx ingress/netns-client.test-child.ts`:
 * a process in a network namespace of its own (no root needed beyond a user namespace), where
 * whole IPv6 prefixes are local (`ip -6 route add local <prefix> dev lo`), so it can connect from
 * any number of addresses of one /64 — which loopback (::1/128) cannot.
 *
 * It binds the listening sockets inside the namespace and hands them to the parent over IPC (the
 * parent's ingress serves them, reaching Kafka from the normal namespace), then runs the clients
 * the parent asks for and reports what they saw. Nothing leaves the namespace; it disappears with
 * this process.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { SmtpClient } from './testkit.ts';

export const FLOOD_PREFIX = '2001:db8:64::';
export const USER_PREFIX = '2001:db8:99::';
export const LISTEN_ADDRESS = '2001:db8:64::1';

export interface FloodRequest {
  type: 'flood';
  ports: { MX: number; SUBMISSION: number };
  sessions: number;
  user: { name: string; password: string; rcpt: string; body: string };
}

export interface FloodReport {
  type: 'report';
  /** Greeting code → how many flood connections got it, per listener. */
  greetings: Record<'MX' | 'SUBMISSION', Record<string, number>>;
  /** The user's replies, in order: greeting, STARTTLS, AUTH, MAIL, RCPT, end of DATA. */
  user: string[];
}

function setUp(): void {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  for (const p of [FLOOD_PREFIX, USER_PREFIX]) execFileSync('ip', ['-6', 'route', 'add', 'local', `${p}/64`, 'dev', 'lo']);
  // Binding to an address of such a route (not configured on an interface) needs this, per namespace.
  writeFileSync('/proc/sys/net/ipv6/ip_nonlocal_bind', '1');
}

async function listen(): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, LISTEN_ADDRESS, () => ok());
  });
  return server;
}

async function flood(req: FloodRequest): Promise<FloodReport> {
  const greetings: FloodReport['greetings'] = { MX: {}, SUBMISSION: {} };
  const held: SmtpClient[] = [];
  // Half on each listener, every connection from its own address of the /64, in waves that the
  // listen backlog can take.
  const targets = Array.from({ length: req.sessions }, (_, i) => ({ listener: i % 2 ? 'SUBMISSION' as const : 'MX' as const, from: `${FLOOD_PREFIX}${(i + 2).toString(16)}` }));
  for (let i = 0; i < targets.length; i += 100) {
    await Promise.all(targets.slice(i, i + 100).map(async ({ listener, from }) => {
      let code = 'error';
      try {
        const c = await SmtpClient.connect(req.ports[listener], { host: LISTEN_ADDRESS, localAddress: from });
        const r = await c.reply(30000);
        code = r.text.slice(0, 9);
        if (r.code === 220) held.push(c); // idle from now on
        else c.close();
      } catch (e) {
        code = `error: ${(e as Error).message}`;
      }
      greetings[listener][code] = (greetings[listener][code] ?? 0) + 1;
    }));
  }
  const user: string[] = [];
  const c = await SmtpClient.connect(req.ports.SUBMISSION, { host: LISTEN_ADDRESS, localAddress: `${USER_PREFIX}5` });
  try {
    user.push((await c.reply()).text);
    await c.cmd('EHLO laptop.example.com');
    user.push((await c.starttls()).text);
    await c.cmd('EHLO laptop.example.com');
    user.push((await c.authPlain(req.user.name, req.user.password)).text);
    user.push((await c.cmd(`MAIL FROM:<${req.user.name}>`)).text);
    user.push((await c.cmd(`RCPT TO:<${req.user.rcpt}>`)).text);
    user.push((await c.data(req.user.body)).text);
  } catch (e) {
    user.push(`error: ${(e as Error).message}`);
  } finally {
    c.close();
    for (const h of held) h.close();
  }
  return { type: 'report', greetings, user };
}

async function main(): Promise<void> {
  setUp();
  const servers = { MX: await listen(), SUBMISSION: await listen() };
  // Once the parent has a listening socket, this process stops accepting on it (or it would take
  // some of the connections itself).
  for (const [kind, server] of Object.entries(servers)) process.send!({ type: 'listener', kind }, server, () => server.close());
  process.on('message', (m: FloodRequest) => {
    if (m?.type !== 'flood') return;
    void flood(m).then((report) => process.send!(report), (e: Error) => process.send!({ type: 'report', greetings: { MX: {}, SUBMISSION: {} }, user: [`error: ${e.message}`] }));
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.send) void main();
