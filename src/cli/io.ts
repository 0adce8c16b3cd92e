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

/** A plain text table: columns padded to their widest cell. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
