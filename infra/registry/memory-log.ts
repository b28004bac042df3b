/**
 * A `_schemas` log in memory, for tests and the fuzzer: each append goes through the record
 * encoding (records.ts) and is applied to the state at once, as the Kafka log's consumer would.
 */
import { decodeRecord, encodeKey } from './records.ts';
import type { LogAppend, SchemaLogWriter } from './registry-service.ts';
import type { RegistryState } from './state.ts';

export function memorySchemaLog(state: RegistryState): SchemaLogWriter {
  return {
    async append(records: LogAppend[]) {
      for (const r of records) {
        const rec = decodeRecord(Buffer.from(encodeKey(r.key)), r.value === null ? null : Buffer.from(r.value));
        if (rec) state.apply(rec);
      }
    },
  };
}
