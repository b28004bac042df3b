/** Progress bars on stderr (cli-progress): count, rate and ETA; on a non-terminal a line every 2 s. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total?: number): void;
  stop(): void;
}

export function progressBar(label: string, unit = 'msg', quiet = false): Progress {
  if (quiet) return { update() {}, stop() {} };
  const started = Date.now();
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {percentage}% {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 2000,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  let begun = false;
  const rate = (done: number) => Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
  return {
    update(done, total) {
      if (!begun) {
        bar.start(total ?? 0, done, { rate: rate(done) });
        begun = true;
      }
      if (total !== undefined) bar.setTotal(total);
      bar.update(done, { rate: rate(done) });
    },
    stop() {
      if (begun) bar.stop();
    },
  };
}
