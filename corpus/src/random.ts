/**
 * The seeded random source. Every message is generated from its own stream, derived from
 * (seed, index) by SHA-256, so any index can be generated alone, in any order, on any worker, and
 * always gives the same message.
 *
 * The generator (SFC32, Chris Doty-Humphrey's Small Fast Counting generator) is written here by
 * hand: it is six lines, and pure-rand, the well-kept library, seeds its generators from 32 bits
 * only, which over a million messages would repeat about a hundred streams.
 */
import { createHash } from 'node:crypto';

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: Uint8Array) {
    if (seed.length < 16) throw new RangeError('Rng needs a 16-byte seed');
    const v = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
    this.a = v.getUint32(0);
    this.b = v.getUint32(4);
    this.c = v.getUint32(8);
    this.d = v.getUint32(12);
    for (let i = 0; i < 12; i++) this.next(); // mix the seed in before the first value is used
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [lo, hi] (both inclusive), without modulo bias. */
  int(lo: number, hi: number): number {
    const range = hi - lo + 1;
    if (!(range >= 1) || range > 0x1_0000_0000) throw new RangeError(`bad range ${lo}..${hi}`);
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % range);
    let x = this.next();
    while (x >= limit) x = this.next();
    return lo + (x % range);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p * 0x1_0000_0000;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** Picks by weight: `[[weight, value], …]`. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of items) total += w;
    let x = (this.next() / 0x1_0000_0000) * total;
    for (const [w, v] of items) {
      if (x < w) return v;
      x -= w;
    }
    return items[items.length - 1]![1];
  }

  /** A size skewed toward small values: mostly near `lo`, sometimes up to `hi`. */
  skewed(lo: number, hi: number): number {
    const u = this.next() / 0x1_0000_0000;
    return lo + Math.floor(u * u * u * (hi - lo + 1));
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.next(), i);
    if (i < n) {
      const last = this.next();
      for (let k = 0; i < n; i++, k++) out[i] = (last >>> (8 * k)) & 0xff;
    }
    return out;
  }
}

/** The stream of message `index` under `seed`. */
export function rngFor(seed: string, index: number): Rng {
  return new Rng(createHash('sha256').update(`scop-mail-corpus\0${seed}\0${index}`).digest());
}
