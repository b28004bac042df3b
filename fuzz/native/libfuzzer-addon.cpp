// The native half of Jazzer.js (the `@jazzer.js/fuzzer` addon interface that @jazzer.js/core 4
// calls), written for the *upstream* libFuzzer that Debian ships in libclang-rt-19-dev.
//
// Why this file exists: @jazzer.js/fuzzer 4.0.0 publishes only prebuilt binaries, linked against
// glibc 2.38 / GLIBCXX_3.4.32 (Debian 12 has 2.36), and no sources; its build downloads a patched
// LLVM from GitHub, which this network cannot reach. The addon interface is small (coverage
// counters, compare tracing, start sync/async), so we own it here against the stock libFuzzer.
//
// Upstream libFuzzer ends a run with exit() (the Jazzer fork returns instead) and has no way for a
// callback to stop the loop. Both are handled with one escape: the link wraps exit() (-Wl,--wrap=exit)
// and a finding in JS longjmps from the callback back to where we entered libFuzzer. libFuzzer's
// frames are abandoned, never resumed: it would have exited the process anyway ("don't let F
// destroy itself"), and nothing of it runs again in this process.
//
// Timeouts (-timeout) are libFuzzer's own SIGALRM handler, which only acts in the fuzzing thread.
// In sync mode that is Node's main thread, the one a process-directed SIGALRM goes to. In async
// mode the fuzzing thread raises SIGALRM for itself once a second while it waits for JS.

#include <napi.h>

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
// libFuzzer (compiler-rt) entry points and SanitizerCoverage callbacks.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*cb)(const uint8_t *data, size_t size));
void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *end);
void __sanitizer_cov_pcs_init(const uintptr_t *pcs_beg, const uintptr_t *pcs_end);
void __sanitizer_weak_hook_strcmp(void *caller_pc, const char *s1, const char *s2, int result);
void __sanitizer_weak_hook_strstr(void *caller_pc, const char *haystack, const char *needle, char *result);
void __sanitizer_cov_trace_const_cmp8(uint64_t arg1, uint64_t arg2);
void __sanitizer_cov_trace_pc_indir(uintptr_t callee);
void __real_exit(int code);
}

// libFuzzer's "inside the user callback" flag (FuzzerLoop.cpp; hidden, so visible to this link
// only). Cleared when a finding leaves the callback by longjmp, or libFuzzer's atexit handler
// would report the orderly exit that follows as "fuzz target exited".
namespace fuzzer {
extern bool RunningUserCallback;
}

namespace {

// ---------------------------------------------------------------- coverage counters

// libFuzzer's PC table entry: one per counter. The PCs are fake but unique across every counter
// region (they are the counters' own addresses), so "cov:" counts distinct edges.
struct PCTableEntry {
  uintptr_t pc, flags;
};

uint8_t *gCoverageMap = nullptr;
std::vector<PCTableEntry> *gCoveragePCs = nullptr;

void RegisterRegion(uint8_t *start, size_t count, PCTableEntry *pcs) {
  for (size_t i = 0; i < count; i++) pcs[i] = {reinterpret_cast<uintptr_t>(start + i), 0};
  __sanitizer_cov_8bit_counters_init(start, start + count);
  __sanitizer_cov_pcs_init(reinterpret_cast<const uintptr_t *>(pcs), reinterpret_cast<const uintptr_t *>(pcs + count));
}

void RegisterCoverageMap(const Napi::CallbackInfo &info) {
  if (info.Length() != 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(info.Env(), "registerCoverageMap(buffer)");
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  gCoverageMap = buf.Data();
  // Kept for the life of the process: libFuzzer reads the table whenever it reports coverage.
  gCoveragePCs = new std::vector<PCTableEntry>(buf.Length());
  // The buffer must outlive fuzzing; core keeps it referenced, and so do we.
  new Napi::Reference<Napi::Buffer<uint8_t>>(Napi::Persistent(buf));
}

void RegisterNewCounters(const Napi::CallbackInfo &info) {
  if (info.Length() != 2) throw Napi::TypeError::New(info.Env(), "registerNewCounters(old, new)");
  auto from = info[0].As<Napi::Number>().Int64Value();
  auto to = info[1].As<Napi::Number>().Int64Value();
  if (!gCoverageMap) throw Napi::Error::New(info.Env(), "registerCoverageMap must be called first");
  if (to < from || static_cast<size_t>(to) > gCoveragePCs->size()) throw Napi::RangeError::New(info.Env(), "bad counter range");
  if (to == from) return;
  RegisterRegion(gCoverageMap + from, static_cast<size_t>(to - from), gCoveragePCs->data() + from);
}

// One buffer per instrumented ES module (its own region, registered once).
void RegisterModuleCounters(const Napi::CallbackInfo &info) {
  if (info.Length() != 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(info.Env(), "registerModuleCounters(buffer)");
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  if (buf.Length() == 0) return;
  auto *pcs = new PCTableEntry[buf.Length()];
  new Napi::Reference<Napi::Buffer<uint8_t>>(Napi::Persistent(buf));
  RegisterRegion(buf.Data(), buf.Length(), pcs);
}

// ---------------------------------------------------------------- compare tracing

// The hook id stands in for the caller PC where the libFuzzer API takes one (string compares).
// Integer compares and indirect calls have no PC parameter upstream: they still feed the table of
// recent compares (dictionary mutations), only value profiling does not tell their sites apart.
void TraceUnequalStrings(const Napi::CallbackInfo &info) {
  auto id = info[0].As<Napi::Number>().Int64Value();
  auto a = info[1].As<Napi::String>().Utf8Value();
  auto b = info[2].As<Napi::String>().Utf8Value();
  __sanitizer_weak_hook_strcmp(reinterpret_cast<void *>(id), a.c_str(), b.c_str(), 1);
}

void TraceStringContainment(const Napi::CallbackInfo &info) {
  auto id = info[0].As<Napi::Number>().Int64Value();
  auto needle = info[1].As<Napi::String>().Utf8Value();
  auto haystack = info[2].As<Napi::String>().Utf8Value();
  __sanitizer_weak_hook_strstr(reinterpret_cast<void *>(id), haystack.c_str(), needle.c_str(), nullptr);
}

void TraceIntegerCompare(const Napi::CallbackInfo &info) {
  auto a = info[1].As<Napi::Number>().Int64Value();
  auto b = info[2].As<Napi::Number>().Int64Value();
  __sanitizer_cov_trace_const_cmp8(static_cast<uint64_t>(a), static_cast<uint64_t>(b));
}

void TracePcIndir(const Napi::CallbackInfo &info) {
  auto id = info[0].As<Napi::Number>().Int64Value();
  auto state = info[1].As<Napi::Number>().Int64Value();
  __sanitizer_cov_trace_pc_indir(static_cast<uintptr_t>(id ^ state));
}

// ---------------------------------------------------------------- escaping libFuzzer

void (*gDeathCallback)() = nullptr;

sigjmp_buf gEscape;
volatile bool gInDriver = false;
pthread_t gDriverThread;
volatile int gExitCode = 0;
volatile bool gFinding = false;

void StopAlarm() {
  struct itimerval off = {};
  setitimer(ITIMER_REAL, &off, nullptr);
}

[[noreturn]] void Escape() {
  gInDriver = false;
  fuzzer::RunningUserCallback = false;
  StopAlarm();
  siglongjmp(gEscape, 1);
}

// Runs libFuzzer on this thread; returns when it would have exited or a finding escaped.
void RunDriver(std::vector<std::string> &args, int (*cb)(const uint8_t *, size_t)) {
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(args.size());
  char **argvp = argv.data();
  gFinding = false;
  gExitCode = 0;
  gDriverThread = pthread_self();
  if (sigsetjmp(gEscape, 0) == 0) {
    gInDriver = true;
    LLVMFuzzerRunDriver(&argc, &argvp, cb);
    gInDriver = false;  // only reached if a libFuzzer version returns instead of exiting
  }
}

std::vector<std::string> LibFuzzerArgs(const Napi::Env &env, const Napi::Value &value) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, "libFuzzer arguments must be an array");
  auto arr = value.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr[i];
    if (!v.IsString()) throw Napi::TypeError::New(env, "libFuzzer arguments must be strings");
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return out;
}

// ---------------------------------------------------------------- sync mode

napi_env gSyncEnv = nullptr;
napi_ref gSyncTarget = nullptr;
napi_ref gFindingError = nullptr;

// Raw Node-API here, no C++ objects with destructors: this frame may be left by longjmp.
int SyncCallback(const uint8_t *data, size_t size) {
  napi_env env = gSyncEnv;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value target, buffer, global, result;
  void *copy;
  napi_get_reference_value(env, gSyncTarget, &target);
  napi_create_buffer_copy(env, size, data, &copy, &buffer);
  napi_get_global(env, &global);
  napi_status st = napi_call_function(env, global, target, 1, &buffer, &result);
  if (st == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_create_reference(env, error, 1, &gFindingError);
    napi_close_handle_scope(env, scope);
    gFinding = true;
    Escape();
  }
  napi_close_handle_scope(env, scope);
  return 0;
}

Napi::Value StartFuzzing(const Napi::CallbackInfo &info) {
  auto env = info.Env();
  if (info.Length() < 2 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "startFuzzing(target, args, stopCallback)");
  auto args = LibFuzzerArgs(env, info[1]);
  auto deferred = Napi::Promise::Deferred::New(env);
  gSyncEnv = env;
  napi_create_reference(env, info[0], 1, &gSyncTarget);
  gFindingError = nullptr;
  RunDriver(args, SyncCallback);
  napi_delete_reference(env, gSyncTarget);
  gSyncTarget = nullptr;
  if (gFinding && gFindingError) {
    napi_value error;
    napi_get_reference_value(env, gFindingError, &error);
    napi_delete_reference(env, gFindingError);
    gFindingError = nullptr;
    deferred.Reject(error);
  } else {
    deferred.Resolve(env.Undefined());
  }
  return deferred.Promise();
}

// ---------------------------------------------------------------- async mode

struct AsyncCall {
  const uint8_t *data;
  size_t size;
  std::promise<bool> finding;  // true when the input produced a finding
  bool done = false;           // the end-of-fuzzing message (no input)
};

void CallJs(Napi::Env env, Napi::Function target, std::nullptr_t *, AsyncCall *call);
using AsyncTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, AsyncCall, CallJs>;

AsyncTsfn gAsyncTsfn;
Napi::Promise::Deferred *gAsyncDeferred = nullptr;
Napi::Reference<Napi::Value> *gAsyncError = nullptr;
int gUnitTimeoutSec = 0;

// The input JS is working on: one at a time, the fuzzing thread waits for each.
AsyncCall *gCurrentCall = nullptr;
// Promise handlers, made once: a pair of new functions per input would be garbage whose native
// finalizers run late, and memory grew by kilobytes per input.
Napi::FunctionReference gOnResolve;
Napi::FunctionReference gOnReject;

void Settle(AsyncCall *call, Napi::Value error) {
  if (!error.IsEmpty() && !gAsyncError) gAsyncError = new Napi::Reference<Napi::Value>(Napi::Persistent(error));
  call->finding.set_value(!error.IsEmpty());
}

void OnResolve(const Napi::CallbackInfo &) {
  AsyncCall *call = gCurrentCall;
  gCurrentCall = nullptr;
  if (call) Settle(call, Napi::Value());
}

void OnReject(const Napi::CallbackInfo &info) {
  AsyncCall *call = gCurrentCall;
  gCurrentCall = nullptr;
  Napi::Value reason = info[0];
  // A rejection with undefined is still a finding.
  if (call) Settle(call, reason.IsUndefined() ? Napi::Error::New(info.Env(), "promise rejected with undefined").Value() : reason);
}

void CallJs(Napi::Env env, Napi::Function target, std::nullptr_t *, AsyncCall *call) {
  if (call->done) {
    if (gAsyncError) gAsyncDeferred->Reject(gAsyncError->Value());
    else gAsyncDeferred->Resolve(env.Undefined());
    delete gAsyncError;
    gAsyncError = nullptr;
    delete gAsyncDeferred;
    gAsyncDeferred = nullptr;
    gOnResolve.Reset();
    gOnReject.Reset();
    delete call;
    return;
  }
  Napi::Value result;
  try {
    result = target.Call({Napi::Buffer<uint8_t>::Copy(env, call->data, call->size)});
  } catch (const Napi::Error &e) {
    return Settle(call, e.Value());
  }
  if (!result.IsPromise()) return Settle(call, Napi::Value());
  gCurrentCall = call;
  auto then = result.As<Napi::Object>().Get("then").As<Napi::Function>();
  then.Call(result, {gOnResolve.Value(), gOnReject.Value()});
}

int AsyncCallback(const uint8_t *data, size_t size) {
  auto *call = new AsyncCall{data, size, {}, false};
  auto future = call->finding.get_future();
  if (gAsyncTsfn.BlockingCall(call) != napi_ok) {
    fprintf(stderr, "==%d== jazzer native: cannot call into JavaScript\n", getpid());
    _Exit(78);
  }
  // libFuzzer's alarm handler ignores SIGALRM outside the fuzzing thread: raise it here.
  while (future.wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
    if (gUnitTimeoutSec > 0) raise(SIGALRM);
  }
  bool finding = future.get();
  delete call;
  if (finding) {
    gFinding = true;
    Escape();
  }
  return 0;
}

int TimeoutFromArgs(const std::vector<std::string> &args) {
  int t = 1200;  // libFuzzer's default -timeout
  for (auto &a : args)
    if (a.rfind("-timeout=", 0) == 0) t = std::atoi(a.c_str() + 9);
  return t;
}

Napi::Value StartFuzzingAsync(const Napi::CallbackInfo &info) {
  auto env = info.Env();
  if (info.Length() < 2 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "startFuzzingAsync(target, args)");
  if (info[0].As<Napi::Function>().Get("length").As<Napi::Number>().Int32Value() > 1) {
    throw Napi::TypeError::New(env, "fuzz targets with a done callback are not supported by this addon; return a Promise");
  }
  auto args = LibFuzzerArgs(env, info[1]);
  gUnitTimeoutSec = TimeoutFromArgs(args);
  gAsyncDeferred = new Napi::Promise::Deferred(env);
  auto promise = gAsyncDeferred->Promise();
  gOnResolve = Napi::Persistent(Napi::Function::New<OnResolve>(env));
  gOnReject = Napi::Persistent(Napi::Function::New<OnReject>(env));
  gAsyncTsfn = AsyncTsfn::New(env, info[0].As<Napi::Function>(), "jazzer-async", 0, 1);
  std::thread([args]() mutable {
    RunDriver(args, AsyncCallback);
    auto *done = new AsyncCall{nullptr, 0, {}, true};
    gAsyncTsfn.BlockingCall(done);
    gAsyncTsfn.Release();
  }).detach();
  return promise;
}

// ---------------------------------------------------------------- reporting

void PrintAndDumpCrashingInput(const Napi::CallbackInfo &) {
  // libFuzzer's death callback writes the current input as crash-<sha1> and prints final stats.
  if (gDeathCallback) gDeathCallback();
}

void PrintReturnInfo(const Napi::CallbackInfo &) {}

void PrintVersion(const Napi::CallbackInfo &info) {
  std::cout << "Jazzer.js (scop libFuzzer addon) on Node " << Napi::VersionManagement::GetNodeVersion(info.Env())->major
            << ", Node-API " << Napi::VersionManagement::GetNapiVersion(info.Env()) << std::endl;
}

}  // namespace

extern "C" {
// libFuzzer registers its death callback (dump the input, print stats) through this weak hook.
void __sanitizer_set_death_callback(void (*callback)()) { gDeathCallback = callback; }

// libFuzzer calls exit() when a run ends (-runs, -max_total_time, a reproduced input, bad flags).
void __wrap_exit(int code) {
  if (gInDriver && pthread_equal(pthread_self(), gDriverThread)) {
    gExitCode = code;
    fflush(stdout);
    fflush(stderr);
    Escape();
  }
  __real_exit(code);
}
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports["registerCoverageMap"] = Napi::Function::New<RegisterCoverageMap>(env);
  exports["registerNewCounters"] = Napi::Function::New<RegisterNewCounters>(env);
  exports["registerModuleCounters"] = Napi::Function::New<RegisterModuleCounters>(env);
  exports["traceUnequalStrings"] = Napi::Function::New<TraceUnequalStrings>(env);
  exports["traceStringContainment"] = Napi::Function::New<TraceStringContainment>(env);
  exports["traceIntegerCompare"] = Napi::Function::New<TraceIntegerCompare>(env);
  exports["tracePcIndir"] = Napi::Function::New<TracePcIndir>(env);
  exports["printAndDumpCrashingInput"] = Napi::Function::New<PrintAndDumpCrashingInput>(env);
  exports["printReturnInfo"] = Napi::Function::New<PrintReturnInfo>(env);
  exports["printVersion"] = Napi::Function::New<PrintVersion>(env);
  exports["startFuzzing"] = Napi::Function::New<StartFuzzing>(env);
  exports["startFuzzingAsync"] = Napi::Function::New<StartFuzzingAsync>(env);
  return exports;
}

NODE_API_MODULE(scop_libfuzzer, Init)
