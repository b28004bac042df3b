/**
 * ESM loader hooks (module.register, so they run in the loader thread) that compile the project's
 * TypeScript to JavaScript for the fuzzing child. Why not tsx: on Node 24 tsx installs synchronous
 * in-thread hooks (module.registerHooks), which run before every module.register hook, so Jazzer's
 * instrumenting hook would be handed TypeScript it cannot parse. Registered before Jazzer's hook,
 * these run after it in the chain: Jazzer asks for a module, gets JavaScript, instruments it.
 *
 * resolve() adds what tsx adds for this code base: extensionless CommonJS subpaths
 * ('nodemailer/lib/mime-node') resolve to .js or /index.js.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const COMPILER_OPTIONS = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  esModuleInterop: true,
  inlineSourceMap: true,
  inlineSources: true,
};

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (e) {
    const code = e && e.code;
    if ((code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_UNSUPPORTED_DIR_IMPORT') || /\.[cm]?[jt]s$/.test(specifier)) throw e;
    for (const suffix of ['.js', '/index.js']) {
      try {
        return await nextResolve(specifier + suffix, context);
      } catch {
        // try the next form
      }
    }
    throw e;
  }
}

export async function load(url, context, nextLoad) {
  if (url.startsWith('file://') && /\.m?ts$/.test(url) && !url.includes('/node_modules/')) {
    const filename = fileURLToPath(url);
    const out = ts.transpileModule(readFileSync(filename, 'utf8'), { compilerOptions: COMPILER_OPTIONS, fileName: filename });
    return { format: 'module', source: out.outputText, shortCircuit: true };
  }
  return nextLoad(url, context);
}
