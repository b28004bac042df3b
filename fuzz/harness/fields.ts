/**
 * Inputs made of several fields: the fuzzer's bytes split at NUL. A target reads field i as a
 * string (missing fields are ''); growing such an input repeats each field, so a probe makes every
 * field long instead of adding fields.
 */
import { repeat } from './invariants.ts';

const SEP = 0;

export function splitFields(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (let i = data.indexOf(SEP); i !== -1; i = data.indexOf(SEP, from)) {
    out.push(data.subarray(from, i));
    from = i + 1;
  }
  out.push(data.subarray(from));
  return out;
}

export class Fields {
  private readonly parts: Buffer[];
  constructor(data: Buffer) {
    this.parts = splitFields(data);
  }
  get length(): number {
    return this.parts.length;
  }
  bytes(i: number): Buffer {
    return this.parts[i] ?? Buffer.alloc(0);
  }
  utf8(i: number): string {
    return this.bytes(i).toString('utf8');
  }
  latin1(i: number): string {
    return this.bytes(i).toString('latin1');
  }
  /** A small number from the field's first byte (0 when empty). */
  byte(i: number): number {
    return this.bytes(i)[0] ?? 0;
  }
}

export function joinFields(fields: (Buffer | string)[]): Buffer {
  const parts: Buffer[] = [];
  fields.forEach((f, i) => {
    if (i) parts.push(Buffer.from([SEP]));
    parts.push(typeof f === 'string' ? Buffer.from(f, 'utf8') : f);
  });
  return Buffer.concat(parts);
}

/** Every field grown `factor` times, the way repeat() grows a whole input (the growth probe for field inputs). */
export function growFields(data: Buffer, factor: number): Buffer {
  return joinFields(splitFields(data).map((f) => repeat(f, factor)));
}
