/**
 * The float32 matmul of math.ts as a WebAssembly function: wasm's f32.mul and f32.add are IEEE
 * binary32 operations rounded to nearest, the very `f(v + f(w * x))` steps of the JS loop in the
 * same order, so the result is bit for bit the same (a test holds them together); it only runs
 * faster. Assembled here from a few opcodes (no toolchain): four rows per pass sharing each x[j].
 */

const I32 = 0x7f;
const F32 = 0x7d;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

const str = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];

// Opcodes.
const get = (l: number) => [0x20, ...uleb(l)];
const set = (l: number) => [0x21, ...uleb(l)];
const i32 = (v: number) => [0x41, ...sleb(v)];
const f32zero = [0x43, 0, 0, 0, 0];
const add = [0x6a];
const mul = [0x6c];
const shl = [0x74];
const geU = [0x4f];
const ltU = [0x49];
const gtS = [0x4a];
const geS = [0x4e];
const fadd = [0x92];
const fmul = [0x94];
const load = (offset: number) => [0x2a, 2, ...uleb(offset)];
const store = (offset: number) => [0x38, 2, ...uleb(offset)];
const block = [0x02, 0x40];
const loop = [0x03, 0x40];
const brIf = (depth: number) => [0x0d, ...uleb(depth)];
const br = (depth: number) => [0x0c, ...uleb(depth)];
const end = [0x0b];

// matmul_f32(xout, x, w, n, d): params 0..4; i32 locals 5..12; f32 locals 13..17.
const [XOUT, X, W, N, D] = [0, 1, 2, 3, 4];
const [I, STRIDE, XP, XEND, P0] = [5, 6, 7, 8, 9]; // P0..P3 = 9..12
const V0 = 13; // V0..V3 = 13..16
const XJ = 17;

/** One pass over x for `rows` rows starting at row I: v_k = f(v_k + f(w_k[j] * x[j])), then xout[I + k] = v_k. */
function pass(rows: number): number[] {
  const code: number[] = [];
  for (let k = 0; k < rows; k++) code.push(...get(W), ...get(I), ...i32(k), ...add, ...get(STRIDE), ...mul, ...add, ...set(P0 + k), ...f32zero, ...set(V0 + k));
  code.push(...get(X), ...set(XP));
  code.push(...block, ...get(XP), ...get(XEND), ...geU, ...brIf(0), ...loop);
  code.push(...get(XP), ...load(0), ...set(XJ));
  for (let k = 0; k < rows; k++) {
    code.push(...get(V0 + k), ...get(P0 + k), ...load(0), ...get(XJ), ...fmul, ...fadd, ...set(V0 + k));
    code.push(...get(P0 + k), ...i32(4), ...add, ...set(P0 + k));
  }
  code.push(...get(XP), ...i32(4), ...add, ...set(XP), ...get(XP), ...get(XEND), ...ltU, ...brIf(0), ...end, ...end);
  for (let k = 0; k < rows; k++) code.push(...get(XOUT), ...get(I), ...i32(2), ...shl, ...add, ...get(V0 + k), ...store(4 * k));
  code.push(...get(I), ...i32(rows), ...add, ...set(I));
  return code;
}

function matmulBody(): number[] {
  const code: number[] = [];
  code.push(...get(N), ...i32(2), ...shl, ...set(STRIDE), ...get(X), ...get(STRIDE), ...add, ...set(XEND), ...i32(0), ...set(I));
  // Four rows a pass while four remain.
  code.push(...block, ...loop, ...get(I), ...i32(4), ...add, ...get(D), ...gtS, ...brIf(1), ...pass(4), ...br(0), ...end, ...end);
  // Then the last rows one by one.
  code.push(...block, ...loop, ...get(I), ...get(D), ...geS, ...brIf(1), ...pass(1), ...br(0), ...end, ...end);
  code.push(...end);
  const locals = vec([[...uleb(8), I32], [...uleb(5), F32]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

function matmulModule(): Uint8Array<ArrayBuffer> {
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])]])),
    ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, ...uleb(0)]])),
    ...section(3, vec([uleb(0)])),
    ...section(7, vec([[...str('matmul_f32'), 0x00, ...uleb(0)]])),
    ...section(10, vec([matmulBody()])),
  ];
  return new Uint8Array(bytes);
}

let compiled: WebAssembly.Module | undefined;
/** The kernel instance of each arena's memory, by its buffer. */
const kernels = new WeakMap<ArrayBufferLike, (xout: number, x: number, w: number, n: number, d: number) => void>();

/** Float32 arrays in one WebAssembly memory, where matmulF32 runs the wasm kernel on them. */
export interface Arena {
  alloc(n: number): Float32Array;
}

const PAGE = 65536;
/** wasm32 memories stop at 4 GB; larger models stay on the plain JS path. */
const MAX_ARENA_BYTES = 2 ** 31;

/** An arena for `floats` float32 values (allocations round up to 16 bytes), or undefined when that is too large. */
export function createArena(floats: number, allocations: number): Arena | undefined {
  const bytes = floats * 4 + allocations * 16;
  if (bytes > MAX_ARENA_BYTES) return undefined;
  compiled ??= new WebAssembly.Module(matmulModule());
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / PAGE) || 1 });
  const instance = new WebAssembly.Instance(compiled, { env: { memory } });
  kernels.set(memory.buffer, instance.exports.matmul_f32 as (xout: number, x: number, w: number, n: number, d: number) => void);
  let at = 0;
  return {
    alloc(n: number): Float32Array {
      const a = new Float32Array(memory.buffer, at, n);
      at += Math.ceil((n * 4) / 16) * 16;
      return a;
    },
  };
}

/** The wasm kernel for these arrays when all three live in one arena, else undefined. */
export function wasmMatmul(xout: Float32Array, x: Float32Array, w: Float32Array): ((xout: number, x: number, w: number, n: number, d: number) => void) | undefined {
  const b = w.buffer;
  return x.buffer === b && xout.buffer === b ? kernels.get(b) : undefined;
}
