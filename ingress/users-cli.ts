/** `scop users …`: manage the submission users file (scrypt hashes) that the ingress reads. */
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { z } from 'zod';
import { loadEnv } from '../runtime/config.ts';
import { defaultUsersFile } from './config.ts';
import { addUser, readUsers, removeUser } from './users.ts';

function usersFile(opts: { file?: string }): string {
  if (opts.file) return resolve(opts.file);
  const env = loadEnv(
    { INGRESS_USERS_FILE: z.string().optional(), SCOP_DATA_DIR: z.string().default('.data') },
    { INGRESS_USERS_FILE: 'path of the submission users file', SCOP_DATA_DIR: 'a writable folder' },
  );
  return resolve(env.INGRESS_USERS_FILE ?? defaultUsersFile(env.SCOP_DATA_DIR));
}

export async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin });
    for await (const line of rl) {
      rl.close();
      return line.replace(/\r$/, '');
    }
    return '';
  }
  // Interactive: ask twice without echoing.
  const ask = (prompt: string) =>
    new Promise<string>((ok) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      const out = rl as unknown as { _writeToOutput: (s: string) => void };
      out._writeToOutput = (s: string) => { if (s.includes(prompt)) process.stderr.write(prompt); };
      rl.question(prompt, (answer) => { rl.close(); process.stderr.write('\n'); ok(answer); });
    });
  const a = await ask('password: ');
  const b = await ask('again: ');
  if (a !== b) throw new Error('the passwords differ');
  return a;
}

export function registerUsersCommands(program: Command): void {
  const users = program.command('users').description('submission users (AUTH on the submission listeners), stored as scrypt hashes');
  users
    .command('add')
    .description('add a user or replace its password (reads the password from the terminal, or from stdin with --password-stdin)')
    .argument('<name>', 'user name as given in AUTH, e.g. alice or alice@example.com')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--file <path>', 'users file (default: INGRESS_USERS_FILE or $SCOP_DATA_DIR/ingress/users)')
    .action(async (name: string, opts: { passwordStdin?: boolean; file?: string }) => {
      const file = usersFile(opts);
      try {
        const password = await readPassword(Boolean(opts.passwordStdin));
        const { replaced } = await addUser(file, name, password);
        console.log(`${replaced ? 'updated' : 'added'} ${name} in ${file}`);
      } catch (e) {
        console.error(`scop users add: ${(e as Error).message}`);
        process.exitCode = 1;
      }
    });
  users
    .command('remove')
    .description('remove a user')
    .argument('<name>')
    .option('--file <path>', 'users file')
    .action((name: string, opts: { file?: string }) => {
      const file = usersFile(opts);
      if (!removeUser(file, name)) {
        console.error(`no user ${name} in ${file}`);
        process.exitCode = 1;
        return;
      }
      console.log(`removed ${name} from ${file}`);
    });
  users
    .command('list')
    .description('list user names')
    .option('--file <path>', 'users file')
    .action((opts: { file?: string }) => {
      for (const name of readUsers(usersFile(opts)).keys()) console.log(name);
    });
}
