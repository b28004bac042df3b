/**
 * The quarantine listing's header reader (headerOf) reads field names as every stage reads them
 * (runtime/header-fields.ts). It used to decode the header as UTF-8 before reading names, trim a
 * UTF-8 no-break space, lower-case the Kelvin sign to k, take a colon from a continuation line and
 * end the header only at CRLF CRLF.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headerOf } from './quarantine.ts';

const raw = (head: string, rest = '\r\n\r\nbody\r\n') => Buffer.from(`${head}${rest}`, 'latin1');

test('the subject and the Message-ID, unfolded, UTF-8 values decoded', () => {
  assert.equal(headerOf(raw('Subject: caf\xc3\xa9\r\n au lait\r\nMessage-ID: <a@b>'), 'Subject'), 'café au lait');
  assert.equal(headerOf(raw('subject : x'), 'Subject'), 'x', 'white space before the colon, any case');
});

test('names the other stages do not read as that field are not it', () => {
  assert.equal(headerOf(raw('Subject\r\n : folded colon'), 'Subject'), null);
  assert.equal(headerOf(raw('Subject\xc2\xa0: utf-8 no-break space'), 'Subject'), null);
  assert.equal(headerOf(raw('\xe2\x84\xaaeywords: kelvin'), 'Keywords'), null);
  assert.equal(headerOf(raw('From: a@b', '\n\nSubject: in the body\r\n\r\n'), 'Subject'), null, 'a bare-LF blank line ends the header');
});
