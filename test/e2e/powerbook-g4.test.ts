import { describe } from 'vitest';
import { targetEndToEnd } from '../helpers/e2e.js';
import { targetVerify } from '../helpers/verify.js';

describe('powerbook-g4 end to end', () => {
  targetEndToEnd('powerbook-g4', { target: 'host', file: 'model.rtr' });
  targetVerify('powerbook-g4');
});
