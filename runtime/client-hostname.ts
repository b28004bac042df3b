/**
 * The client's reverse name as operators read it (the console's message page, `scop quarantine
 * show`): with whether the ingress forward-confirmed it (Envelope.clientHostnameConfirmed, FCrDNS),
 * since a PTR record alone is the client's own claim — anyone controlling the reverse zone of their
 * address can name it mail.bank.example.
 */
import type { Envelope } from '../schemas/types.ts';

/** `no rDNS`, or `<name>, confirmed` / `<name>, not forward-confirmed` / `<name>, not checked` (absent: a record from before the check). */
export function clientHostnameText(e: Pick<Envelope, 'clientHostname'> & { clientHostnameConfirmed?: boolean | null }): string {
  if (e.clientHostname === null) return 'no rDNS';
  const mark = e.clientHostnameConfirmed === true ? 'confirmed' : e.clientHostnameConfirmed === false ? 'not forward-confirmed' : 'not checked';
  return `${e.clientHostname}, ${mark}`;
}
