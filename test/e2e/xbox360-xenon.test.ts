import { describe } from 'vitest';
import { targetEndToEnd } from '../helpers/e2e.js';
import { targetVerify } from '../helpers/verify.js';

describe('xbox360-xenon end to end', () => {
  targetEndToEnd('xbox360-xenon', { target: 'win98-pentium2', file: 'model.rtr' });
  targetVerify('xbox360-xenon');
});
