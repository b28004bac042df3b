/**
 * Builds the native half of Jazzer.js (libfuzzer-addon.cpp) against the stock libFuzzer from
 * Debian's libclang-rt-<n>-dev, once per change of its inputs. The output name carries a hash of
 * the source, the libFuzzer archive and the compiler, so a stale build is never loaded.
 *
 * Needs g++ and libclang_rt.fuzzer_no_main-x86_64.a (`apt-get install g++ libclang-rt-19-dev`;
 * infra/debian-packages.txt lists both). SCOP_LIBFUZZER=<path to the .a> picks another archive.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, '..', '..');
const SOURCE = join(HERE, 'libfuzzer-addon.cpp');
const OUT_DIR = join(ROOT, 'fuzz', '.build');

export class NativeBuildError extends Error {
  override name = 'NativeBuildError';
}

/** The newest libclang_rt.fuzzer_no_main archive under /usr/lib/llvm-*, or SCOP_LIBFUZZER. */
export function findLibFuzzer(env: NodeJS.ProcessEnv = process.env): string {
  const arch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
  const name = `libclang_rt.fuzzer_no_main-${arch}.a`;
  if (env.SCOP_LIBFUZZER) {
    if (!existsSync(env.SCOP_LIBFUZZER)) throw new NativeBuildError(`SCOP_LIBFUZZER=${env.SCOP_LIBFUZZER}: no such file — point it at ${name}`);
    return env.SCOP_LIBFUZZER;
  }
  const found: { version: number; path: string }[] = [];
  for (const d of existsSync('/usr/lib') ? readdirSync('/usr/lib') : []) {
    const m = /^llvm-(\d+)$/.exec(d);
    if (!m) continue;
    const clangDir = join('/usr/lib', d, 'lib', 'clang');
    for (const v of existsSync(clangDir) ? readdirSync(clangDir) : []) {
      const p = join(clangDir, v, 'lib', 'linux', name);
      if (existsSync(p)) found.push({ version: Number(m[1]), path: p });
    }
  }
  found.sort((a, b) => b.version - a.version);
  if (!found[0]) {
    throw new NativeBuildError(`libFuzzer not found (${name} under /usr/lib/llvm-*): install it with \`apt-get install libclang-rt-19-dev\`, or set SCOP_LIBFUZZER to its path`);
  }
  return found[0].path;
}

function compilerVersion(cxx: string): string {
  try {
    return execFileSync(cxx, ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  } catch {
    throw new NativeBuildError(`no C++ compiler (${cxx}): install it with \`apt-get install g++\`, or set CXX`);
  }
}

/** Path of the built addon; builds it first when its inputs changed. */
export function buildNativeAddon(opts: { log?: (line: string) => void } = {}): string {
  const cxx = process.env.CXX || 'g++';
  const libFuzzer = findLibFuzzer();
  const require = createRequire(import.meta.url);
  const napiHeaders = dirname(require.resolve('node-api-headers/include/node_api.h'));
  const addonApi = dirname(require.resolve('node-addon-api/napi.h'));
  const hash = createHash('sha256')
    .update(readFileSync(SOURCE))
    .update(`${libFuzzer}:${statSync(libFuzzer).size}:${statSync(libFuzzer).mtimeMs}`)
    .update(compilerVersion(cxx))
    .update(readFileSync(join(addonApi, 'package.json')))
    .digest('hex')
    .slice(0, 16);
  const out = join(OUT_DIR, `libfuzzer-addon-${hash}.node`);
  if (existsSync(out)) return out;
  mkdirSync(OUT_DIR, { recursive: true });
  opts.log?.(`building the libFuzzer addon (${cxx}, ${libFuzzer})`);
  const tmp = `${out}.${process.pid}.tmp`;
  const args = [
    '-std=c++17', '-O2', '-fPIC', '-shared',
    '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS',
    '-I', napiHeaders, '-I', addonApi,
    SOURCE,
    // The whole archive: libFuzzer's driver, mutators and SanitizerCoverage callbacks all live in it.
    '-Wl,--whole-archive', libFuzzer, '-Wl,--no-whole-archive',
    // libFuzzer's exit() at the end of a run comes back to us (see the addon's header comment).
    '-Wl,--wrap=exit',
    '-lpthread', '-o', tmp,
  ];
  try {
    execFileSync(cxx, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new NativeBuildError(`building ${SOURCE} failed: ${err.stderr?.toString().slice(0, 2000) || err.message}`);
  }
  renameSync(tmp, out);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(buildNativeAddon({ log: (l) => console.error(l) }));
}
