/**
 * The symbol catalogue is required by the types, not checked at start (runtime/service.ts
 * SymbolsContext): the decision stage, a chain or fused unit with it, and every service the CLI
 * composes do not compile with a context that lacks `symbols` (e2e/acl.test.ts once forgot it and
 * only a full run found it), while stages that weigh no symbols take a plain one. The checks are
 * the lines of cli/service-context.types.ts; this test compiles that file with the TypeScript
 * compiler, as written and with its `@ts-expect-error` directives removed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const file = join(root, 'cli', 'service-context.types.ts');
const text = readFileSync(file, 'utf8');
const config = ts.parseJsonConfigFileContent(ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile).config, ts.sys, root);

/** The compiler's errors in the fixture when its text is `source` (line numbers from 1, messages flattened). */
function errorsOf(source: string, old?: ts.Program): { program: ts.Program; errors: { line: number; message: string }[] } {
  const host = ts.createCompilerHost(config.options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, source, lang) : read(name, lang, ...rest));
  const program = ts.createProgram([file], config.options, host, old);
  const errors = ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => ({
    line: d.file ? d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1 : 0,
    message: ts.flattenDiagnosticMessageText(d.messageText, ' '),
  }));
  return { program, errors };
}

/** The lines each directive marks (the line after it), from 1. */
const marked = text.split('\n').flatMap((l, i) => (l.trim().startsWith('// @ts-expect-error') ? [i + 2] : []));

let asWritten: ts.Program | undefined;

test('the fixture compiles as written: every line marked @ts-expect-error fails to compile (an unused directive is an error)', () => {
  assert.ok(marked.length >= 10, `${marked.length} marked lines`);
  const { program, errors } = errorsOf(text);
  asWritten = program;
  assert.deepEqual(errors, []);
});

test('without the directives exactly the marked lines fail, each for want of the symbol catalogue', () => {
  const { errors } = errorsOf(text.replace(/\/\/ @ts-expect-error/g, '// expected error:'), asWritten);
  assert.deepEqual([...new Set(errors.map((e) => e.line))], marked, errors.map((e) => `${e.line}: ${e.message}`).join('\n'));
  for (const e of errors) assert.match(e.message, /'symbols'|SymbolsContext/, `line ${e.line}: ${e.message}`);
});
