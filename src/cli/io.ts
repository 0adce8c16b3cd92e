import { readSync } from 'node:fs';
/** Console output for the commands. */
import type { Output } from '../core/generate.js';
import type { VerifyOutcome } from '../core/verify.js';

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

/** --json output: one JSON document on stdout. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
}

/** A plain text table: columns padded to their widest cell. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** --json output of a long-running command (retro serve): one compact JSON object per line, as events happen. */
export function printJsonLine(value: unknown): void {
  print(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

/** What --json says about a verify outcome. */
export function verifyJson(r: VerifyOutcome) {
  return { target: r.profile.id, pass: r.pass, report: r.report, skipped: r.skipped, runs: r.runs.map((x) => ({ build: x.build, quant: x.quant, mode: x.result.mode, positions: x.result.positions.length, argmaxAgree: x.result.argmaxAgree, worstLogitErr: x.result.worstLogitErr, worstRelL2: x.result.worstRelL2, tolerance: x.tolerance, pass: x.result.pass, failures: x.result.failures.slice(0, 20) })) };
}

/** The outcome of retro verify (also of a remote run's trace): a table or JSON; exit code 1 on failure. */
export function printVerify(r: VerifyOutcome, json: boolean): void {
  if (json) {
    printJson(verifyJson(r));
  } else {
    print(
      table(
        ['target', 'build', 'quant', 'mode', 'positions', 'argmax agree', 'worst logit err', 'tolerance', 'verdict'],
        r.runs.map((x) => [x.target, x.build, x.quant, x.result.mode, String(x.result.positions.length), `${x.result.argmaxAgree}/${x.result.positions.length}`, x.result.worstLogitErr.toExponential(2), String(x.tolerance), x.result.pass ? 'PASS' : `FAIL (${x.result.failures[0]})`]),
      ),
    );
    for (const sk of r.skipped) print(`skipped ${sk.build}: ${sk.reason}`);
    print(`report: ${r.report}`);
  }
  if (!r.pass) process.exitCode = 1;
}

/** Set by a command that stops itself on Ctrl-C (retro serve); main's handler then leaves the exit to it. */
export const interrupts = { handledByCommand: false };

/** One line of stdin as UTF-8 (blocking, so a chat waits for the person typing), undefined at its end. */
export function stdinLine(): string | undefined {
  const bytes: number[] = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, one, 0, 1, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EOF') n = 0;
      else throw e;
    }
    if (n === 0) return bytes.length > 0 ? Buffer.from(bytes).toString('utf8') : undefined;
    if (one[0] === 0x0a) return Buffer.from(bytes).toString('utf8');
    bytes.push(one[0]);
  }
}
