/**
 * One fuzzing process (started by fuzz/run.ts, one per target): compiles TypeScript with our
 * loader, points @jazzer.js/fuzzer at the addon built from fuzz/native/ instead of its prebuilt
 * binary (which needs glibc 2.38), runs Jazzer.js, and prints one SCOP-FUZZ line with the counts
 * the runner reports. Plain JavaScript: it runs before any TypeScript loader exists.
 */
import { createRequire, register } from 'node:module';

const config = JSON.parse(process.env.SCOP_FUZZ_CHILD ?? 'null');
if (!config) throw new Error('SCOP_FUZZ_CHILD is not set: start targets with `npm run fuzz -- <target>`');
process.env.SCOP_FUZZ_TARGET_FILE = config.targetFile;

register(new URL('./ts-loader.mjs', import.meta.url));

const require = createRequire(import.meta.url);
const Module = require('node:module');
const prebuilt = `fuzzer-${process.platform}-${process.arch}.node`;
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (typeof request === 'string' && request.endsWith(prebuilt) && /[\\/]@jazzer\.js[\\/]fuzzer[\\/]/.test(request)) return config.addon;
  return resolveFilename.call(this, request, parent, ...rest);
};

// Count instrumented edges (CommonJS: the highest edge id handed out; ES modules: their own buffers).
const { fuzzer } = require('@jazzer.js/fuzzer');
const tracker = fuzzer.coverageTracker;
let cjsEdges = 0;
let esmEdges = 0;
const enlarge = tracker.enlargeCountersBufferIfNeeded.bind(tracker);
tracker.enlargeCountersBufferIfNeeded = (id) => {
  cjsEdges = Math.max(cjsEdges, id + 1);
  return enlarge(id);
};
const createModuleCounters = tracker.createModuleCounters.bind(tracker);
tracker.createModuleCounters = (size) => {
  esmEdges += size;
  return createModuleCounters(size);
};

const core = require('@jazzer.js/core');
const options = new core.OptionsManager(core.OptionSource.DefaultCLIOptions).merge(
  {
    fuzzTarget: config.entry,
    fuzzEntryPoint: 'fuzz',
    sync: config.sync,
    includes: config.includes,
    excludes: config.excludes,
    fuzzerOptions: config.fuzzerOptions,
    timeout: config.timeoutMs,
    coverage: Boolean(config.coverageDir),
    coverageDirectory: config.coverageDir || 'coverage',
    coverageReporters: ['json-summary'],
    // Jazzer's bug detectors hook child_process, fs, eval and friends for injection bugs; the targets
    // here parse, they do not shell out, and the hooks cost every call.
    disableBugDetectors: ['.*'],
  },
  core.OptionSource.CommandLineArguments,
);
const { returnCode, error } = await core.startFuzzing(options);
console.error(`\nSCOP-FUZZ ${JSON.stringify({ edges: cjsEdges + esmEdges, returnCode, error: error ? `${error.name}: ${error.message}`.slice(0, 2000) : null })}`);
process.exit(returnCode);
