/**
 * Test-only editing of a model.rtr, field by field (docs/model-format.md), in the file's own byte
 * order: the hostile files of issue 12 are a few changed bytes of a real converted model.
 */
import { entryField, headerField, NATIVE } from '../../src/model/format.js';

const h = (k: Parameters<typeof headerField>[0]) => headerField(k).offset;
const e = (k: Parameters<typeof entryField>[0]) => entryField(k).offset;

/** Field offsets from the format table (src/model/format.ts), under the names the tests use. */
export const HEADER = { quant: h('quant'), groupSize: h('groupSize'), alignment: h('alignment'), dim: h('dim'), nLayers: h('nLayers'), vocabSize: h('vocabSize'), seqLen: h('seqLen'), theta: h('ropeTheta'), eps: h('normEps'), tokOffset: h('tokenizerOffset'), tokBytes: h('tokenizerBytes'), bos: h('bosId'), eos: h('eosId'), count: h('tensorCount'), fileSize: h('fileSize') } as const;
export const ENTRY = { kind: e('kind'), rows: e('rows'), cols: e('cols'), groupSize: e('groupSize'), dataOffset: e('dataOffset'), dataBytes: e('dataBytes'), scaleOffset: e('scaleOffset'), scaleBytes: e('scaleBytes') } as const;

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
      if (this.buf.subarray(at + e('name'), at + e('kind')).toString('latin1').replace(/\0+$/, '') === name && seen++ === n) return i;
    }
    throw new Error(`no entry ${name} #${n}`);
  }
}
