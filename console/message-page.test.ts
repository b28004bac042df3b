/** The message page's envelope (pure: no broker, no database): the client's reverse name with whether the ingress forward-confirmed it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testDecision, testMailRecord } from '../runtime/stage-testing.ts';
import type { Envelope } from '../schemas/types.ts';
import { messagePage } from './pages.ts';
import { summarize } from './summary.ts';

const clientLine = (over: Partial<Envelope>) => {
  const row = summarize({ ...testMailRecord('Subject: hi\r\n\r\nhi\r\n', { clientIp: '198.51.100.7', helo: 'mx.example.org', ...over }), decision: testDecision('deliver') }, 'inbound');
  const html = messagePage({ user: 'alice', csrf: 't' }, { ...row, held: false }, [], undefined);
  return /<dt>Client<\/dt><dd>([^<]*)<\/dd>/.exec(html)?.[1];
};

test('Client: the reverse name is marked confirmed, not forward-confirmed or not checked; no name says no rDNS', () => {
  assert.equal(clientLine({ clientHostname: 'mx.example.org', clientHostnameConfirmed: true }), '198.51.100.7 (mx.example.org, confirmed) HELO mx.example.org');
  assert.equal(clientLine({ clientHostname: 'mail.bank.example', clientHostnameConfirmed: false }), '198.51.100.7 (mail.bank.example, not forward-confirmed) HELO mx.example.org');
  assert.equal(clientLine({ clientHostname: 'mx.example.org', clientHostnameConfirmed: null }), '198.51.100.7 (mx.example.org, not checked) HELO mx.example.org');
  assert.equal(clientLine({ clientHostname: null, clientHostnameConfirmed: null }), '198.51.100.7 (no rDNS) HELO mx.example.org');
});

test('Client: a row indexed before the check existed (no clientHostnameConfirmed in its detail) reads not checked', () => {
  const row = summarize({ ...testMailRecord('Subject: hi\r\n\r\nhi\r\n', { clientIp: '198.51.100.7', clientHostname: 'mx.example.org', helo: 'mx.example.org' }), decision: testDecision('deliver') }, 'inbound');
  const detail = JSON.parse(row.detail) as { envelope: Record<string, unknown> };
  delete detail.envelope.clientHostnameConfirmed;
  const html = messagePage({ user: 'alice', csrf: 't' }, { ...row, detail: JSON.stringify(detail), held: false }, [], undefined);
  assert.match(html, /<dd>198\.51\.100\.7 \(mx\.example\.org, not checked\) HELO mx\.example\.org<\/dd>/);
});
