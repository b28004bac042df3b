/**
 * `scop console users add|role|remove|list` (the operators who may log in, argon2id hashes, and their roles) and
 * `scop console rebuild` (empty the history view and replay the topics into it).
 */
import { Argument, Option, type Command } from 'commander';
import { z } from 'zod';
import { loadEnv } from '../runtime/config.ts';
import { loadConsoleConfig } from '../console/config.ts';
import { rebuildHistory } from '../console/history.ts';
import { openHistoryStore } from '../console/service.ts';
import { addOperator, OPERATOR_ROLES, parseRole, readOperators, removeOperator, setOperatorRole } from '../console/users.ts';
import { readPassword } from '../ingress/users-cli.ts';
import { cliClients } from './compacted.ts';

const config = () => loadConsoleConfig(process.env, loadEnv({ SCOP_DATA_DIR: z.string().default('.data') }, { SCOP_DATA_DIR: 'a writable folder' }).SCOP_DATA_DIR);

export function registerConsoleCommands(program: Command): void {
  const c = program.command('console').description('the operators\' web console (scop start runs it): operators, history rebuild');
  const users = c.command('users').description('operators who may log in to the console (argon2id hashes in CONSOLE_USERS_FILE)');
  users.command('add').description('add an operator or replace its password (from the terminal, or stdin with --password-stdin)')
    .argument('<name>').option('--password-stdin', 'read the password from the first line of stdin')
    .addOption(new Option('--role <role>', 'operator (every page and write) or viewer (every page, no write); default: an existing operator keeps its role, a new one is an operator').choices(OPERATOR_ROLES))
    .action(async (name: string, o: { passwordStdin?: boolean; role?: string }) => {
      const file = config().usersFile;
      const role = o.role === undefined ? undefined : parseRole(o.role);
      const r = await addOperator(file, name, await readPassword(Boolean(o.passwordStdin)), role);
      console.log(`${r.replaced ? 'updated' : 'added'} ${name} (${r.role}) in ${file}`);
    });
  users.command('remove').argument('<name>').action((name: string) => {
    const file = config().usersFile;
    if (!removeOperator(file, name)) { console.error(`no operator ${name} in ${file}`); process.exitCode = 1; return; }
    console.log(`removed ${name} from ${file}`);
  });
  users.command('role').description('change an operator\'s role (its password kept): operator (every page and write) or viewer (every page, no write); holds from its next request')
    .argument('<name>').addArgument(new Argument('<role>').choices(OPERATOR_ROLES)).action((name: string, role: string) => {
      const file = config().usersFile;
      const r = parseRole(role);
      if (!setOperatorRole(file, name, r)) { console.error(`no operator ${name} in ${file}`); process.exitCode = 1; return; }
      console.log(`${name} is now ${r === 'viewer' ? 'a viewer (read-only)' : 'an operator'} in ${file}`);
    });
  users.command('list').description('each operator and its role').action(() => { for (const [n, role] of readOperators(config().usersFile)) console.log(`${n}\t${role}`); });

  c.command('rebuild').description('empty the history view and delete its consumer groups, so the console replays every topic into it on its next start (stop the console first)')
    .action(async () => {
      const cfg = config();
      const { kafka } = await cliClients({ command: 'console' });
      const store = await openHistoryStore(cfg);
      try {
        const deleted = await rebuildHistory(kafka, store);
        console.log(`history emptied (${cfg.databaseUrl ? 'PostgreSQL' : cfg.sqliteFile}); consumer groups deleted: ${deleted.join(', ') || 'none'}. Start the console (npm start) to replay the topics.`);
      } finally {
        await store.close();
      }
    });
}
