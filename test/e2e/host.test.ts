import { describe } from 'vitest';
import { targetEndToEnd } from '../helpers/e2e.js';
import { targetVerify } from '../helpers/verify.js';

describe('host end to end', () => {
  targetEndToEnd('host', { target: 'powerbook-g4', file: 'model.rtr' });
  targetVerify('host');
});
