/** Finding a Java runtime of at least a given feature version (Apicurio needs 21+; Kafka runs on 17). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

function featureVersion(home: string): number | undefined {
  try {
    const m = /^JAVA_VERSION="(\d+)/m.exec(readFileSync(join(home, 'release'), 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The `java` binary of the newest JDK/JRE that is at least `min`: SCOP_JAVA_HOME, then JAVA_HOME,
 * then the folders under /usr/lib/jvm. Undefined when there is none.
 */
export function findJava(min: number, env: NodeJS.ProcessEnv = process.env): { bin: string; version: number } | undefined {
  const candidates = [env.SCOP_JAVA_HOME, env.JAVA_HOME].filter((h): h is string => !!h);
  if (existsSync('/usr/lib/jvm')) candidates.push(...readdirSync('/usr/lib/jvm').map((d) => join('/usr/lib/jvm', d)));
  let best: { bin: string; version: number } | undefined;
  for (const home of candidates) {
    const version = featureVersion(home);
    const bin = join(home, 'bin', 'java');
    if (version !== undefined && version >= min && existsSync(bin) && (!best || version > best.version)) best = { bin, version };
  }
  return best;
}
