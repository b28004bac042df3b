/** A planted quadratic (see planted.ts). */
import { planted } from './planted.ts';

export default planted('quadratic');
