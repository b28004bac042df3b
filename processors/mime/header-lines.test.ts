/**
 * The structure scan's header reader on lines that are not fields (found by fuzz/targets/headers.ts):
 * the continuation of a bad line must not extend the field before it, or this stage reads a header
 * value that mailparser and the spam stage's reader do not (that the spam stage reads the same value
 * is cli/header-field-names.test.ts's check: only cli/ imports both stages).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scanStructure } from './structure.ts';

test('a continuation after a line that is not a field stays with that line', () => {
  const raw = Buffer.from('MIME-Version: 1.0\r\nContent\xdamultipart/alternative;\r\n boundary="bound"\r\nFrom: a@example.org\r\n\r\nbody\r\n', 'latin1');
  const s = scanStructure(raw);
  assert.equal(s.headers.find((h) => h.name === 'MIME-Version')?.value, '1.0');
  assert.ok(s.defects.some((d) => d.code === 'invalid-header-line'), 'the bad line is still a defect');
  assert.equal(s.headers.find((h) => h.name === 'From')?.value, 'a@example.org');
});

test('a continuation of a good field still unfolds into it', () => {
  const s = scanStructure(Buffer.from('Subject: a\r\n b\r\n\tc\r\n\r\nx\r\n'));
  assert.equal(s.headers[0]?.value, 'a b\tc');
});
