/** Console output for the commands. */
import type { Output } from '../core/generate.js';

export const consoleOutput: Output = {
  stdout: (bytes) => {
    process.stdout.write(bytes);
  },
  stderr: (text) => {
    process.stderr.write(text);
  },
};

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
