import { describe } from 'vitest';
import { targetEndToEnd } from '../helpers/e2e.js';

describe('host end to end', () => {
  targetEndToEnd('host', { target: 'powerbook-g4', file: 'model.rtr' });
});
