/**
 * Test-only GGUF editing: a real file split into its metadata entries (raw value bytes kept),
 * tensor infos and data section, edited as data and written back, so a hostile file differs
 * from a real one only where a test says so.
 */
export interface GgufKv {
  key: string;
  type: number;
  value: Buffer; // the encoded value, without key and type
}
export interface GgufTensor {
  name: Buffer; // raw bytes: a test may put anything in a name
  dims: number[];
  type: number;
  offset: number;
}
export interface GgufParts {
  kvs: GgufKv[];
  tensors: GgufTensor[];
  alignment: number;
  data: Buffer;
}

const SCALAR: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export function splitGguf(b: Buffer): GgufParts {
  let p = 8;
  const u32 = () => ((p += 4), b.readUInt32LE(p - 4));
  const u64 = () => ((p += 8), Number(b.readBigUInt64LE(p - 8)));
  const skip = (t: number): void => {
    if (t === 8) {
      const len = u64();
      p += len;
    } else if (t === 9) {
      const et = u32();
      const n = u64();
      for (let i = 0; i < n; i++) skip(et);
    } else p += SCALAR[t];
  };
  const nT = u64();
  const nKv = u64();
  const kvs: GgufKv[] = [];
  let alignment = 32;
  for (let i = 0; i < nKv; i++) {
    const key = b.toString('utf8', p + 8, p + 8 + Number(b.readBigUInt64LE(p)));
    p += 8 + Buffer.byteLength(key);
    const type = u32();
    const start = p;
    skip(type);
    kvs.push({ key, type, value: b.subarray(start, p) });
    if (key === 'general.alignment') alignment = b.readUInt32LE(start);
  }
  const tensors: GgufTensor[] = [];
  for (let i = 0; i < nT; i++) {
    const n = u64();
    const name = b.subarray(p, p + n);
    p += n;
    const nd = u32();
    const dims: number[] = [];
    for (let d = 0; d < nd; d++) dims.push(u64());
    tensors.push({ name, dims, type: u32(), offset: u64() });
  }
  const dataStart = Math.ceil(p / alignment) * alignment;
  return { kvs, tensors, alignment, data: b.subarray(dataStart) };
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const u64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};
export const ggufString = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u64(b.length), b]);
};
export const kvU32 = (key: string, v: number): GgufKv => ({ key, type: 4, value: u32(v) });

export function joinGguf(g: GgufParts): Buffer {
  const kvs = g.kvs.map((kv) => Buffer.concat([ggufString(kv.key), u32(kv.type), kv.value]));
  const infos = g.tensors.map((t) => Buffer.concat([ggufString(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(t.offset)]));
  const head = Buffer.concat([Buffer.from('GGUF'), u32(3), u64(g.tensors.length), u64(g.kvs.length), ...kvs, ...infos]);
  return Buffer.concat([head, Buffer.alloc(Math.ceil(head.length / g.alignment) * g.alignment - head.length), g.data]);
}

/** Replaces (or appends) a metadata entry. */
export function setKv(g: GgufParts, kv: GgufKv): GgufParts {
  const i = g.kvs.findIndex((k) => k.key === kv.key);
  const kvs = [...g.kvs];
  if (i >= 0) kvs[i] = kv;
  else kvs.push(kv);
  return { ...g, kvs };
}

/** The metadata values of a GGUF file, decoded (strings, numbers, booleans, flat arrays), without reading its tensors. */
export function ggufMetadata(b: Buffer): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const kv of splitGguf(b).kvs) {
    let p = 0;
    const v = kv.value;
    const one = (t: number): unknown => {
      const at = p;
      if (t === 8) {
        const n = Number(v.readBigUInt64LE(at));
        p += 8 + n;
        return v.toString('utf8', at + 8, at + 8 + n);
      }
      p += SCALAR[t];
      return [v.readUInt8, v.readInt8, v.readUInt16LE, v.readInt16LE, v.readUInt32LE, v.readInt32LE, v.readFloatLE, (o: number) => v.readUInt8(o) !== 0].map((f) => f.bind(v))[t]?.(at) ?? Number(t === 10 ? v.readBigUInt64LE(at) : v.readBigInt64LE(at));
    };
    if (kv.type === 9) {
      const et = v.readUInt32LE(0);
      const n = Number(v.readBigUInt64LE(4));
      p = 12;
      const arr: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) arr[i] = one(et);
      out.set(kv.key, arr);
    } else out.set(kv.key, one(kv.type));
  }
  return out;
}
