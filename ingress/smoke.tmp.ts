import { startTestIngress, SmtpClient } from './testkit.ts';
const t = await startTestIngress({ name: 'smoke' });
const c = await SmtpClient.connect(t.ingress.ports.MX!);
await c.reply(); await c.cmd('EHLO a.example');
c.write(`MAIL FROM:<p@example.test>\r\nRCPT TO:<v@example.test>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<p2@example.test>\r\nRCPT TO:<v@example.test>\r\nDATA\r\nSubject: y\r\n\r\nbody\r\n.\r\nQUIT\r\n`);
c.socket.on('data', (d) => console.log('RAW', JSON.stringify(d.toString())));
for (let i = 0; i < 9; i++) console.log(await c.reply(2000).catch((e) => e.message));
await t.stop();
process.exit(0);
