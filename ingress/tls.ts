/**
 * The certificate for STARTTLS and implicit TLS: the configured PEM files, or a self-signed one
 * cached under <dataDir>/ingress/tls (runtime/tls.ts, shared with the console's HTTPS).
 */
import { join } from 'node:path';
import type { Logger } from '../runtime/log.ts';
import { loadTlsMaterial, type TlsMaterial } from '../runtime/tls.ts';

export type { TlsMaterial };

export function loadTls(opts: { tls?: { certFile: string; keyFile: string }; hostname: string; dataDir: string; log: Logger }): Promise<TlsMaterial> {
  return loadTlsMaterial({ tls: opts.tls, hostname: opts.hostname, dir: join(opts.dataDir, 'ingress', 'tls'), log: opts.log, settings: { cert: 'INGRESS_TLS_CERT_FILE', key: 'INGRESS_TLS_KEY_FILE' } });
}
