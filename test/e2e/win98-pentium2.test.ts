import { describe } from 'vitest';
import { targetEndToEnd } from '../helpers/e2e.js';
import { targetVerify } from '../helpers/verify.js';

describe('win98-pentium2 end to end', () => {
  targetEndToEnd('win98-pentium2', { target: 'xbox360-xenon', file: 'model.rtr' });
  targetVerify('win98-pentium2');
});
