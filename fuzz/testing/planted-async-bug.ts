/** A planted async-bug (see planted.ts). */
import { planted } from './planted.ts';

export default planted('async-bug');
