/**
 * Imports flow one way, for the whole repository (README "Layout"): every relative import of every
 * source file (static import and export-from, side-effect imports, import()) is checked against the
 * table below. Stages meet only through topics and schemas: a stage folder (ingress/,
 * processors/<stage>/, egress/relay/, egress/matrix/) imports only itself, runtime/ and schemas/;
 * cli/ composes them; tests may also start servers from infra/ and read corpus/'s test data.
 * Here because infra/ holds the test harness. It replaces console/imports.test.ts (console/ alone);
 * on the main branch it was written against, it found 14 breaks (the fused chain in processors/,
 * stages' tests importing other stages), fixed in the same change.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..');
const SKIP_DIRS = new Set(['node_modules', '.git', '.data', '.cache', 'dist']);
const SELF = 'infra/layers.test.ts';

/** Every relative module specifier of a source file: static imports and exports, side-effect imports, and import(). */
const specifiers = (text: string): string[] =>
  [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]!);

/**
 * The unit a repository path belongs to: its top-level folder, or for processors/, egress/ and
 * corpus/ the sub-folder (each stage is its own unit; corpus/'s package, loader and harness differ).
 * Files directly in corpus/ are `corpus`; a file at the root is `.`.
 */
function unitOf(path: string): string {
  const parts = path.split(/[\\/]/);
  if (parts.length === 1) return '.';
  if (['processors', 'egress', 'corpus'].includes(parts[0]!) && parts.length > 2) return `${parts[0]}/${parts[1]}`;
  return parts[0]!;
}

/** Test code: test files and their helpers, which may also use infra/ and corpus test data. */
const isTestCode = (path: string): boolean => {
  const base = path.split(/[\\/]/).at(-1)!;
  return /\.test(-[\w-]+)?\.ts$/.test(base) || /testing/.test(path) || /test-fixture/.test(base) || base === 'testkit.ts';
};

const STAGES = ['ingress', 'processors/*', 'egress/*'];
/** corpus/'s test data: the generator package (corpus/src, corpus/*.ts) and the SpamAssassin loader; not its harness. */
const CORPUS_DATA = ['corpus', 'corpus/src', 'corpus/spam-assassin'];

/** An import beyond the README's one-way flow that is kept, with its one-line reason. */
interface Exception { to: string[]; why: string }

interface Rule {
  /** A unit, or `processors/*` / `egress/*` for every stage of the folder. */
  from: string;
  /** Units it may import besides itself (`processors/*`: any stage). */
  may: string[];
  /** Units only its test code may import besides `may` (infra/ and corpus test data for everyone). */
  tests?: string[];
  /** Imports beyond the README's one-way flow that are kept, each with its one-line reason. */
  exceptions?: Exception[];
}

/**
 * The rule table, from README "Layout": `cli → ingress | processors | egress | console → runtime →
 * schemas`, cli also uses observability/; ingress, processors and egress never import each other.
 */
const RULES: Rule[] = [
  { from: 'schemas', may: [] },
  { from: 'runtime', may: ['schemas'] },
  { from: 'ingress', may: ['runtime', 'schemas'] },
  { from: 'processors/*', may: ['runtime', 'schemas'] },
  { from: 'egress/*', may: ['runtime', 'schemas'] },
  { from: 'console', may: ['runtime', 'schemas'] },
  { from: 'observability', may: ['runtime', 'schemas'] },
  {
    from: 'cli', may: [...STAGES, 'console', 'observability', 'runtime', 'schemas'],
    exceptions: [
      { to: ['infra'], why: '`scop start`, `scop infra prepare`, `scop observe` and `scop topics acls` start or configure the local servers infra/ provides' },
      { to: ['corpus', 'corpus/spam-assassin'], why: '`scop spam eval` / `spam train` read the SpamAssassin and shared corpora through their loaders' },
    ],
  },
  // README: infra/ starts local servers and is the test harness; it builds on the runtime (Kafka client, log, config, registry codec, topics) and schemas, never on a stage.
  { from: 'infra', may: ['runtime', 'schemas'] },
  { from: 'e2e', may: ['cli', ...STAGES, 'console', 'observability', 'runtime', 'schemas', 'infra', ...CORPUS_DATA] },
  {
    from: 'bench', may: ['cli', ...STAGES, 'console', 'observability', 'runtime', 'schemas', 'infra', ...CORPUS_DATA],
    exceptions: [
      { to: ['e2e'], why: 'the e2e and chaos benchmarks run the end-to-end harness (e2e/pipeline.ts, e2e/chaos.ts) at a larger size' },
      { to: ['corpus/harness'], why: 'the corpus round-trip benchmark times the harness that corpus/README.md describes' },
    ],
  },
  // README: fuzz/ fuzzes the parsers of the ingress, processors, egress, runtime and registry (infra/registry/).
  { from: 'fuzz', may: [...STAGES, 'runtime', 'schemas', 'infra'] },
  { from: 'patches', may: ['runtime', 'schemas'] },
  // corpus/ is its own npm package (corpus/src, published) of test data: it imports nothing of scop's.
  { from: 'corpus/src', may: [] },
  { from: 'corpus/spam-assassin', may: [] },
  { from: 'corpus', may: ['corpus/src'] },
  {
    from: 'corpus/harness', may: ['corpus', 'corpus/src', 'corpus/spam-assassin', 'schemas'],
    exceptions: [{ to: ['processors/mime'], why: "scop's round trip and differential run (outside the package) measure the MIME stage's parser on the corpus" }],
  },
];

const matches = (pattern: string, unit: string): boolean => pattern === unit || (pattern.endsWith('/*') && unit.startsWith(pattern.slice(0, -1)));

/** Why `file` may not import `spec`, or null when it may (adding the exception that allowed it, if one did, to `used`). */
function breach(file: string, spec: string, rules: readonly Rule[] = RULES, used?: Set<Exception>): string | null {
  const from = unitOf(file);
  const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
  if (target.startsWith('..')) return `${file} → ${spec}: outside the repository`;
  const to = unitOf(target);
  if (to === from) return null;
  const rule = rules.find((r) => matches(r.from, from));
  if (!rule) return `${file} → ${spec}: no rule for ${from}/ (add it to the table in ${SELF})`;
  const allowed = [...rule.may, ...(rule.exceptions ?? []).flatMap((e) => e.to), ...(isTestCode(file) ? ['infra', ...CORPUS_DATA, ...(rule.tests ?? [])] : [])];
  if (allowed.some((p) => matches(p, to))) {
    const exception = rule.exceptions?.find((e) => e.to.some((p) => matches(p, to)));
    if (exception && !rule.may.some((p) => matches(p, to))) used?.add(exception);
    return null;
  }
  return `${file} → ${spec} (${to}/): ${from}/${isTestCode(file) ? ' tests' : ''} may import only ${[from, ...allowed].join(', ')}`;
}

/** Every source file of the repository (relative paths), without dependencies, data and caches; symbolic links not followed. */
function sources(dir = ROOT, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() && !SKIP_DIRS.has(e.name)) sources(join(dir, e.name), out);
    else if (e.isFile() && /\.[mc]?[tj]s$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(relative(ROOT, join(dir, e.name)).split(sep).join('/'));
  }
  return out;
}

test('every relative import follows the one-way rule table (README "Layout")', () => {
  const files = sources();
  assert.ok(files.includes(SELF), 'this file is checked too');
  assert.ok(files.length > 500, `${files.length} files`);
  let imports = 0;
  const wrong: string[] = [];
  const used = new Set<Exception>();
  for (const f of files) {
    for (const spec of specifiers(readFileSync(join(ROOT, f), 'utf8'))) {
      imports++;
      const why = breach(f, spec, RULES, used);
      if (why) wrong.push(why);
    }
  }
  assert.ok(imports > 2000, `${imports} imports read`);
  assert.equal(wrong.length, 0, `${wrong.length} imports break the one-way rule (README "Layout"; the table is in ${SELF}):\n${wrong.join('\n')}\n`);
  // An exception nothing needs any more is a hole: remove it from the table.
  const stale = RULES.flatMap((r) => (r.exceptions ?? []).filter((e) => !used.has(e)).map((e) => `${r.from} → ${e.to.join(', ')} (${e.why})`));
  assert.deepEqual(stale, [], 'exceptions no import uses');
});

test('every top-level folder with source files has a rule', () => {
  const units = new Set(sources().map(unitOf));
  const ruleless = [...units].filter((u) => u !== '.' && !RULES.some((r) => matches(r.from, u)));
  assert.deepEqual(ruleless, []);
});

test('the rules refuse what README "Layout" forbids, and allow what it allows', () => {
  assert.match(breach('processors/auth/lookups.test.ts', '../mime/parse.ts')!, /processors\/auth\/lookups\.test\.ts → \.\.\/mime\/parse\.ts \(processors\/mime\/\): processors\/auth\/ tests may import only/, 'a stage\'s test imports another stage');
  assert.ok(breach('processors/inbound/service.ts', '../auth/service.ts'), 'a stage composing stages');
  assert.ok(breach('ingress/service.ts', '../egress/relay/relay.ts'), 'ingress → egress');
  assert.ok(breach('egress/relay/relay.ts', '../../processors/spam/input.ts'), 'egress → processors');
  assert.ok(breach('runtime/stage.ts', '../processors/mime/parse.ts'), 'runtime → a stage');
  assert.ok(breach('runtime/stage.ts', '../cli/services.ts'), 'runtime → cli');
  assert.ok(breach('schemas/index.ts', '../runtime/log.ts'), 'schemas → runtime');
  assert.ok(breach('console/app.ts', '../processors/mime/parse.ts'), 'console → a stage');
  assert.ok(breach('console/app.ts', '../infra/ports.ts'), 'code (not a test) → infra');
  assert.ok(breach('processors/mime/service.test.ts', '../../corpus/harness/check.ts'), 'a test → the corpus harness (it runs the MIME stage)');
  assert.ok(breach('infra/stack.ts', '../cli/start.ts'), 'infra → cli');
  assert.ok(breach('corpus/src/generate.ts', '../../processors/mime/parse.ts'), 'the corpus package → scop');
  assert.ok(breach('cli/main.ts', '../e2e/pipeline.ts'), 'cli → e2e');
  assert.ok(breach('cli/main.ts', '../../elsewhere/x.ts'), 'outside the repository');
  assert.match(breach('newtop/x.ts', '../runtime/log.ts')!, /no rule for newtop\//);

  assert.equal(breach('processors/spam/learner/service.ts', '../service.ts'), null, 'within a stage');
  assert.equal(breach('processors/mime/clamd.test.ts', '../../infra/ports.ts'), null, 'a test starts a server');
  assert.equal(breach('processors/auth/testing/dns.ts', '../../../infra/dns/dns-server.ts'), null, 'a test helper folder');
  assert.equal(breach('ingress/testkit.ts', '../infra/ports.ts'), null, 'testkit.ts');
  assert.equal(breach('processors/mime/service.test.ts', '../../corpus/spam-assassin/index.ts'), null, 'a test reads corpus test data');
  assert.equal(breach('cli/inbound.ts', '../processors/auth/service.ts'), null, 'cli composes stages');
  assert.equal(breach('cli/observe.ts', '../observability/alerts.ts'), null);
  assert.equal(breach('e2e/pipeline.ts', '../cli/services.ts'), null);
  assert.equal(breach('console/app.ts', '../runtime/kafka.ts'), null);
});

test('the import reader finds the forms used', () => {
  assert.deepEqual(
    // Quotes written as ~ and ` so that this file's own text holds no import for the whole-repository test to read.
    specifiers("import { a } from ~../processors/mime/parse.ts~;\nimport type { B } from `./b.ts`;\nexport { c } from ~../c.ts~;\nconst d = await import(~../d.ts~);\nimport ~../e.ts~;\nexport * from ~./f.ts~;\nimport {\n  g,\n  h,\n} from ~../g.ts~;\nimport x, { y } from ~node:fs~;\nconst t = await import( `./t.ts` );".replaceAll('~', "'").replaceAll('`', '"')),
    ['../processors/mime/parse.ts', './b.ts', '../c.ts', '../d.ts', '../e.ts', './f.ts', '../g.ts', './t.ts'],
  );
  assert.equal(unitOf('processors/spam/learner/core.ts'), 'processors/spam');
  assert.equal(unitOf('egress/relay/relay.ts'), 'egress/relay');
  assert.equal(unitOf('corpus/shared-corpora.ts'), 'corpus');
  assert.equal(unitOf('runtime/operator/send.ts'), 'runtime');
  for (const t of ['a/x.test.ts', 'runtime/stage-testing.ts', 'processors/auth/testing/dns.ts', 'processors/spam/learner/test-fixture.ts', 'cli/supervisor.test-fixture.ts', 'ingress/testkit.ts', 'processors/spam/hanging-tokenize.test-worker.ts']) assert.ok(isTestCode(t), t);
  for (const c of ['runtime/stage.ts', 'processors/spam/tokenize-worker.ts', 'cli/start.ts']) assert.ok(!isTestCode(c), c);
});

/** The folders a mail operator runs; bench/, e2e/, fuzz/, corpus/ and infra/ are tooling and may use test support. */
const PRODUCT = ['ingress', 'processors', 'egress', 'runtime', 'console', 'observability', 'cli', 'schemas'];

/** Why product file `file` may not import `spec` (test support), or null. */
function testImport(file: string, spec: string): string | null {
  if (!PRODUCT.includes(file.split('/')[0]!) || isTestCode(file) || !spec.startsWith('.')) return null;
  const target = relative(ROOT, resolve(ROOT, dirname(file), spec)).split(sep).join('/');
  return isTestCode(target) ? `${file} → ${spec}: product code imports test support (${target})` : null;
}

test('product code imports no test support (test helpers pull in node:test, test brokers and fixtures)', () => {
  const wrong: string[] = [];
  for (const f of sources()) for (const spec of specifiers(readFileSync(join(ROOT, f), 'utf8'))) {
    const why = testImport(f, spec);
    if (why) wrong.push(why);
  }
  assert.deepEqual(wrong, []);
  assert.match(testImport('cli/spam-symbols.ts', '../runtime/stage-testing.ts')!, /product code imports test support/);
  assert.equal(testImport('cli/spam-symbols.test.ts', '../runtime/stage-testing.ts'), null, 'a test may');
  assert.equal(testImport('bench/e2e.ts', '../runtime/stage-testing.ts'), null, 'tooling may');
  assert.equal(testImport('cli/spam-symbols.ts', '../runtime/record-template.ts'), null);
});
