/** A planted bug (see planted.ts). */
import { planted } from './planted.ts';

export default planted('bug');
