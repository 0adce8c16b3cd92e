/**
 * The engine's trace (`-T file`): a header line, then one line per position with the input
 * token, the next token and where it came from, the argmax, sum and L2 of the logits, and the
 * top-k logits with ids. Decimal text: the same on every byte order. docs/trace-format.md.
 */
import { VerifyError } from '../errors.js';

/** About 200 bytes a position: room for 300,000 positions, far more than any target's context. */
export const MAX_TRACE_BYTES = 64 << 20;
const MAX_TOP_K = 64;
const MAX_VOCAB = 1 << 21;

export interface TraceHeader {
  target: string;
  mode: 'free' | 'forced';
  temperature: number;
  topp: number;
  seed: bigint;
  steps: number;
  vocab: number;
  k: number;
}

export interface TraceStep {
  pos: number;
  token: number;
  next: number;
  src: 'p' | 's' | 'f'; // prompt, sampled, teacher-forced
  argmax: number;
  sum: number;
  l2: number;
  top: { id: number; value: number }[];
}

export interface Trace {
  header: TraceHeader;
  steps: TraceStep[];
  /** Set when the file ends in the middle of a line (the engine crashed, or the copy is incomplete). */
  cutAt?: { line: number; pos: number };
}

const bad = (path: string, line: number, what: string) =>
  new VerifyError(`${path}:${line}: not a retro trace: ${what}`, 'pass the file the engine wrote with -T (fetch it in binary or ASCII mode, both work)');

/** A logit as the engine printed it (%.9g, exact as float32); nan/inf in any C library's spelling become NaN/Infinity. */
/** A float32 logit, or (float32 = false) one of the trace's double statistics, which must not be rounded to float32. */
function logitValue(s: string, float32 = true): number {
  const v = Number(s);
  if (!Number.isNaN(v)) return float32 ? Math.fround(v) : v;
  if (/inf/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  return NaN;
}

/** The seed as the engine prints it: two decimal 32-bit halves, hi:lo. */
function parseSeedHalves(s: string | undefined, path: string): bigint {
  const m = /^(\d{1,10}):(\d{1,10})$/.exec(s ?? '');
  if (!m || Number(m[1]) > 0xffffffff || Number(m[2]) > 0xffffffff) throw bad(path, 1, 'header field seed is not hi:lo (two 32-bit numbers)');
  return (BigInt(m[1]) << 32n) | BigInt(m[2]);
}

export function parseTrace(text: string, path: string): Trace {
  const all = text.split(/\r?\n/);
  // Every line the engine writes ends with a newline: a last line without one was cut short.
  const cut = all.length > 1 && all[all.length - 1].trim() !== '' ? all.length : undefined;
  const lines = (cut ? all.slice(0, -1) : all).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw bad(path, 1, 'empty file');
  const h = /^# retro-trace 1 (.*)$/.exec(lines[0]);
  if (!h) throw bad(path, 1, 'missing "# retro-trace 1" header');
  const kv = new Map(h[1].split(/\s+/).map((p) => p.split('=') as [string, string]));
  const num = (k: string) => {
    const v = Number(kv.get(k));
    if (kv.get(k) === undefined || kv.get(k) === '' || !Number.isFinite(v)) throw bad(path, 1, `header field ${k} missing or not a number`);
    return v;
  };
  const whole = (k: string, lo: number, hi: number) => {
    const v = num(k);
    if (!Number.isInteger(v) || v < lo || v > hi) throw bad(path, 1, `header field ${k} is not a whole number in ${lo}..${hi}`);
    return v;
  };
  const mode = kv.get('mode');
  if (mode !== 'free' && mode !== 'forced') throw bad(path, 1, 'header field mode is not free or forced');
  const target = kv.get('target') ?? '?';
  if (!/^[a-z0-9-]{1,64}$/.test(target)) throw bad(path, 1, 'header field target is not a target id');
  const header: TraceHeader = {
    target,
    mode,
    temperature: num('temperature'),
    topp: num('topp'),
    seed: parseSeedHalves(kv.get('seed'), path),
    steps: whole('steps', 1, 1 << 20),
    vocab: whole('vocab', 1, MAX_VOCAB),
    k: whole('k', 1, MAX_TOP_K),
  };
  // Every position lists min(k, vocab) logits, largest first: a missing list is missing data, which must fail, never pass.
  const topCount = Math.min(header.k, header.vocab);
  const steps: TraceStep[] = [];
  for (let i = 1; i < lines.length; i++) {
    // Comments after the header: the engine's closing "# achieved tok/s" line.
    if (lines[i].startsWith('# ')) continue;
    const m = /^pos (\d+) token (\d+) next (-?\d+) src ([psf]) argmax (-?\d+) sum (\S+) l2 (\S+) top((?: -?\d+:\S+)*)$/.exec(lines[i]);
    if (!m) throw bad(path, i + 1, 'the line is not "pos N token N next N src p|s|f argmax N sum X l2 X top id:value ..."');
    const top = m[8]
      .trim()
      .split(' ')
      .filter(Boolean)
      .map((p) => {
        const [id, value] = p.split(':');
        return { id: Number(id), value: logitValue(value) };
      });
    const step: TraceStep = { pos: Number(m[1]), token: Number(m[2]), next: Number(m[3]), src: m[4] as TraceStep['src'], argmax: Number(m[5]), sum: logitValue(m[6], false), l2: logitValue(m[7], false), top };
    if (step.pos !== steps.length) throw bad(path, i + 1, `position ${step.pos} out of order`);
    if (step.pos >= header.steps) throw bad(path, i + 1, `more positions than the header's steps=${header.steps}`);
    if (top.length !== topCount) throw bad(path, i + 1, `${top.length} top logits, the header says ${topCount}`);
    if (step.argmax !== top[0].id) throw bad(path, i + 1, `argmax ${step.argmax} is not the first top logit`);
    if (step.token >= header.vocab || step.argmax >= header.vocab || top.some((t) => t.id >= header.vocab)) {
      throw bad(path, i + 1, 'token id outside the vocabulary');
    }
    steps.push(step);
  }
  if (steps.length === 0) throw bad(path, 2, cut ? 'cut short before the first position' : 'no positions');
  return { header, steps, cutAt: cut ? { line: cut, pos: steps.length } : undefined };
}
