/** The one-line typed error every bad input must give. */
import { expect } from 'vitest';

export function expectError(fn: () => unknown, cls: new (...a: never[]) => Error, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toContain('\n');
}
