#!/usr/bin/env node
// The `scop` command (npx scop, or a global link). It runs cli/main.ts on the Node the project pins
// (the `node` package in node_modules), whichever node started this file, so that a machine whose
// own node is older still runs scop on the supported runtime. SCOP_NODE names another binary.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
const node = process.env.SCOP_NODE || (existsSync(pinned) ? pinned : process.execPath);
const child = spawn(node, ['--import', 'tsx', join(root, 'cli', 'main.ts'), ...process.argv.slice(2)], { stdio: 'inherit', cwd: process.cwd() });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
