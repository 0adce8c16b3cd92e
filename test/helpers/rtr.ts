/**
 * Test-only editing of a model.rtr, field by field (docs/model-format.md), in the file's own byte
 * order: the hostile files of issue 12 are a few changed bytes of a real converted model.
 */
import { NATIVE } from '../../src/model/native.js';

export const HEADER = { quant: 12, groupSize: 16, alignment: 20, dim: 24, nLayers: 32, vocabSize: 44, seqLen: 48, theta: 56, eps: 60, tokOffset: 64, tokBytes: 68, bos: 76, eos: 80, count: 84, fileSize: 88 } as const;
export const ENTRY = { kind: 32, rows: 36, cols: 40, groupSize: 44, dataOffset: 48, dataBytes: 52, scaleOffset: 56, scaleBytes: 60 } as const;

export class RtrFile {
  readonly buf: Buffer;
  readonly le: boolean;
  constructor(bytes: Buffer) {
    this.buf = Buffer.from(bytes);
    this.le = this.buf.readUInt32LE(4) === NATIVE.marker;
  }
  u32(at: number): number {
    return this.le ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }
  setU32(at: number, v: number): this {
    if (this.le) this.buf.writeUInt32LE(v >>> 0, at);
    else this.buf.writeUInt32BE(v >>> 0, at);
    return this;
  }
  setF32(at: number, v: number): this {
    if (this.le) this.buf.writeFloatLE(v, at);
    else this.buf.writeFloatBE(v, at);
    return this;
  }
  /** Byte offset of a field of table entry i. */
  entry(i: number, field: keyof typeof ENTRY): number {
    return NATIVE.headerBytes + i * NATIVE.entryBytes + ENTRY[field];
  }
  /** Index of the n-th (0-based) entry named `name`. */
  find(name: string, n = 0): number {
    const count = this.u32(HEADER.count);
    for (let i = 0, seen = 0; i < count; i++) {
      const at = NATIVE.headerBytes + i * NATIVE.entryBytes;
      if (this.buf.subarray(at, at + NATIVE.nameBytes).toString('latin1').replace(/\0+$/, '') === name && seen++ === n) return i;
    }
    throw new Error(`no entry ${name} #${n}`);
  }
}
