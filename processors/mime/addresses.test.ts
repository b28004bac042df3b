/**
 * Address lists are bounded per header (MAX_ADDRESSES_PER_HEADER), also when the addresses sit in
 * groups: a group's members used to be added all at once before the bound was checked, so one
 * `To: g: a@x, b@x, …;` header could carry any number (found by the mime fuzz target's growth probe).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_ADDRESSES_PER_HEADER, parseMime } from './parse.ts';

const message = (to: string) => Buffer.from(`From: a@example.org\r\nTo: ${to}\r\nSubject: many\r\n\r\nhi\r\n`);
const many = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}@example.net`).join(', ');

test('a group with more members than the bound keeps exactly the bound', async () => {
  const m = await parseMime(message(`team: ${many(MAX_ADDRESSES_PER_HEADER + 300, 'g')};`));
  assert.equal(m.headers.to.length, MAX_ADDRESSES_PER_HEADER);
  assert.equal(m.headers.to[0]!.group, 'team');
  assert.equal(m.headers.to.at(-1)!.address, `g${MAX_ADDRESSES_PER_HEADER - 1}@example.net`);
});

test('plain addresses and groups mixed: the bound holds, in header order', async () => {
  const m = await parseMime(message(`${many(300, 'p')}, team: ${many(300, 'g')};, ${many(10, 'q')}`));
  assert.equal(m.headers.to.length, MAX_ADDRESSES_PER_HEADER);
  assert.equal(m.headers.to[299]!.address, 'p299@example.net');
  assert.equal(m.headers.to[300]!.address, 'g0@example.net');
  assert.ok(!m.headers.to.some((a) => a.address.startsWith('q')), 'what comes after the bound is dropped');
});

test('under the bound nothing is dropped', async () => {
  const m = await parseMime(message(`${many(3, 'p')}, team: ${many(2, 'g')};`));
  assert.deepEqual(m.headers.to.map((a) => [a.address, a.group]), [
    ['p0@example.net', null], ['p1@example.net', null], ['p2@example.net', null], ['g0@example.net', 'team'], ['g1@example.net', 'team'],
  ]);
});
