/**
 * The engine's trace (`-T file`): a header line, then one line per position with the input
 * token, the next token and where it came from, the argmax, sum and L2 of the logits, and the
 * top-k logits with ids. Decimal text: the same on every byte order. docs/trace-format.md.
 */
import { VerifyError } from '../errors.js';

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
function logitValue(s: string): number {
  const v = Number(s);
  if (!Number.isNaN(v)) return Math.fround(v);
  if (/inf/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  return NaN;
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
    if (!Number.isFinite(v)) throw bad(path, 1, `header field ${k} missing`);
    return v;
  };
  const [hi, lo] = (kv.get('seed') ?? '0:0').split(':').map((x) => BigInt(x));
  const mode = kv.get('mode');
  if (mode !== 'free' && mode !== 'forced') throw bad(path, 1, `mode ${mode}`);
  const header: TraceHeader = { target: kv.get('target') ?? '?', mode, temperature: num('temperature'), topp: num('topp'), seed: (hi << 32n) | lo, steps: num('steps'), vocab: num('vocab'), k: num('k') };
  const steps: TraceStep[] = [];
  for (let i = 1; i < lines.length; i++) {
    const m = /^pos (\d+) token (\d+) next (-?\d+) src ([psf]) argmax (-?\d+) sum (\S+) l2 (\S+) top((?: -?\d+:\S+)*)$/.exec(lines[i]);
    if (!m) throw bad(path, i + 1, `cannot read "${lines[i].slice(0, 60)}"`);
    const top = m[8]
      .trim()
      .split(' ')
      .filter(Boolean)
      .map((p) => {
        const [id, value] = p.split(':');
        return { id: Number(id), value: logitValue(value) };
      });
    const step: TraceStep = { pos: Number(m[1]), token: Number(m[2]), next: Number(m[3]), src: m[4] as TraceStep['src'], argmax: Number(m[5]), sum: logitValue(m[6]), l2: logitValue(m[7]), top };
    if (step.pos !== steps.length) throw bad(path, i + 1, `position ${step.pos} out of order`);
    if (step.token >= header.vocab || step.argmax >= header.vocab || top.some((t) => t.id >= header.vocab)) {
      throw bad(path, i + 1, 'token id outside the vocabulary');
    }
    steps.push(step);
  }
  if (steps.length === 0) throw bad(path, 2, cut ? 'cut short before the first position' : 'no positions');
  return { header, steps, cutAt: cut ? { line: cut, pos: steps.length } : undefined };
}
