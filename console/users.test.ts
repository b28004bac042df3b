/** Operators file: argon2id (PHC strings), constant-time checks, bounded parameters, file mode. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { addOperator, hashPassword, Operators, parseRole, readOperators, removeOperator, setOperatorRole, verifyPassword } from './users.ts';

const dir = mkdtempSync(join(tmpdir(), 'scop-operators-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('argon2id hashes: PHC format, salted, verified only by the right password', async () => {
  const a = await hashPassword('a long passphrase');
  const b = await hashPassword('a long passphrase');
  assert.match(a, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.notEqual(a, b, 'a fresh salt each time');
  assert.equal(await verifyPassword('a long passphrase', a), true);
  assert.equal(await verifyPassword('a long passphrasE', a), false);
  assert.equal(await verifyPassword('a long passphrase', a.replace('$argon2id$', '$argon2i$')), false, 'only argon2id');
  assert.equal(await verifyPassword('a long passphrase', a.replace('m=19456', 'm=99999999')), false, 'a tampered memory cost is refused, not computed');
  assert.equal(await verifyPassword('a long passphrase', a.replace('t=2', 't=1')), false, 'other parameters give another hash');
  assert.equal(await verifyPassword('x', 'garbage'), false);
});

test('operators file: add (0600), replace, remove; the console re-reads it when it changes', async () => {
  const file = join(dir, 'users');
  await assert.rejects(addOperator(file, 'alice', 'short'), /at least 12/);
  await assert.rejects(addOperator(file, 'al:ice', 'long enough password'), /invalid operator name/);
  assert.deepEqual(await addOperator(file, 'alice', 'first password!'), { replaced: false, role: 'operator' });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const ops = new Operators(file);
  assert.equal(await ops.verify('alice', 'first password!'), true);
  assert.equal(await ops.verify('bob', 'first password!'), false, 'unknown operator');
  assert.deepEqual(await addOperator(file, 'alice', 'second password!'), { replaced: true, role: 'operator' });
  assert.equal(await ops.verify('alice', 'first password!'), false, 'the new password replaced the old one');
  assert.equal(await ops.verify('alice', 'second password!'), true);
  assert.equal(removeOperator(file, 'alice'), true);
  assert.equal(removeOperator(file, 'alice'), false);
  assert.equal(ops.size, 0);
  writeFileSync(file, `# comment\nbob:${await hashPassword('bob password 123')}\n`);
  assert.deepEqual([...readOperators(file).keys()], ['bob']);
  assert.match(readFileSync(file, 'utf8'), /argon2id/);
});

test('roles: a viewer is stored as a suffix, signs in with its password, keeps its role through a password change; the role changes without one', async () => {
  const file = join(dir, 'roles');
  assert.deepEqual(await addOperator(file, 'vic', 'viewer password 1', 'viewer'), { replaced: false, role: 'viewer' });
  await addOperator(file, 'olga', 'operator password 1');
  const ops = new Operators(file);
  assert.equal(ops.role('vic'), 'viewer');
  assert.equal(ops.role('olga'), 'operator');
  assert.equal(ops.role('nobody'), undefined);
  assert.match(readFileSync(file, 'utf8'), /^vic:\$argon2id\$[^\n]*:viewer$/m);
  assert.equal(await ops.verify('vic', 'viewer password 1'), true, 'the suffix is not part of the hash');
  assert.equal(await ops.verify('vic', 'viewer password 2'), false);
  // A new password without --role never widens a viewer.
  assert.deepEqual(await addOperator(file, 'vic', 'viewer password 2'), { replaced: true, role: 'viewer' });
  assert.equal(ops.role('vic'), 'viewer');
  assert.equal(await ops.verify('vic', 'viewer password 2'), true);
  assert.equal(setOperatorRole(file, 'vic', 'operator'), true);
  assert.equal(ops.role('vic'), 'operator');
  assert.equal(await ops.verify('vic', 'viewer password 2'), true, 'the password is kept');
  assert.equal(setOperatorRole(file, 'vic', 'viewer'), true);
  assert.deepEqual([...readOperators(file)], [['vic', 'viewer'], ['olga', 'operator']]);
  assert.equal(setOperatorRole(file, 'nobody', 'viewer'), false);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(parseRole('viewer'), 'viewer');
  assert.throws(() => parseRole('admin'), /unknown role "admin": use --role operator .* or --role viewer/);
});
