/**
 * ClamAV scanning through clamd's INSTREAM command (clamd(8)): `zINSTREAM\0`, then chunks each
 * prefixed with a 4-byte big-endian length, then a zero length; clamd answers
 * `stream: OK`, `stream: <signature> FOUND` or `… ERROR`. Hand-written: the protocol is a dozen
 * lines and the npm clients wrap it with far more than we need.
 */
import { connect, type Socket } from 'node:net';
import { z } from 'zod';
import { ConfigError } from '../../runtime/config.ts';

export type ClamdAddress = { path: string } | { host: string; port: number };

/** CLAMD_ADDRESS: `host:port`, `tcp://host:port`, `unix:/path/clamd.sock` or `/path/clamd.sock`. */
export function parseClamdAddress(value: string): ClamdAddress {
  const v = value.trim();
  if (v.startsWith('unix:')) return { path: v.slice(5) };
  if (v.startsWith('/')) return { path: v };
  const m = /^(?:tcp:\/\/)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new ConfigError('CLAMD_ADDRESS', `"${value}" is not host:port, tcp://host:port or a unix socket path`, 'set it like 127.0.0.1:3310 or /run/clamav/clamd.ctl, or unset it to scan nothing');
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export const clamdEnvShape = { CLAMD_ADDRESS: z.string().optional(), CLAMD_TIMEOUT_MS: z.coerce.number().int().min(100).default(30000) };

export interface ScanResult {
  result: 'clean' | 'infected' | 'error';
  /** Signature name when infected, the error otherwise. */
  detail: string;
}

const CHUNK = 64 * 1024;

export async function clamdScan(address: ClamdAddress, data: Buffer, timeoutMs = 30000, signal?: AbortSignal): Promise<ScanResult> {
  return new Promise<ScanResult>((resolve) => {
    let reply = '';
    let done = false;
    const socket: Socket = connect(address as never);
    const finish = (r: ScanResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(r);
    };
    const onAbort = () => finish({ result: 'error', detail: 'scan aborted' });
    const timer = setTimeout(() => finish({ result: 'error', detail: `clamd did not answer within ${timeoutMs} ms` }), timeoutMs);
    signal?.addEventListener('abort', onAbort);
    socket.on('error', (e) => finish({ result: 'error', detail: `clamd: ${e.message}` }));
    socket.on('data', (d) => { reply += d.toString('utf8'); });
    socket.on('end', () => {
      const text = reply.replace(/\0/g, '').trim();
      const found = /^stream: (.+) FOUND$/.exec(text);
      if (found) finish({ result: 'infected', detail: found[1]! });
      else if (text === 'stream: OK') finish({ result: 'clean', detail: '' });
      else finish({ result: 'error', detail: text || 'clamd closed the connection without an answer' });
    });
    socket.on('connect', () => {
      socket.write('zINSTREAM\0');
      for (let i = 0; i < data.length; i += CHUNK) {
        const chunk = data.subarray(i, i + CHUNK);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(chunk.length);
        socket.write(len);
        socket.write(chunk);
      }
      socket.write(Buffer.alloc(4)); // zero length: end of stream
    });
  });
}
