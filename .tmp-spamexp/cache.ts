import { writeFileSync } from 'node:fs';
import { spamAssassinExamples } from '../cli/spam.ts';
const ex = await spamAssassinExamples(true);
writeFileSync('/tmp/spam-tokens.json', JSON.stringify(ex.map((e) => [e.label, e.id, e.tokens])));
console.log(ex.length);
process.exit(0);
