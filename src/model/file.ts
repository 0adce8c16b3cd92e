/** Positional reads from a model file, with errors that name the file. */
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { InputFileError, ModelFormatError } from '../errors.js';

export class BinaryFile {
  readonly size: number;
  private constructor(
    readonly path: string,
    private fd: number,
  ) {
    this.size = fstatSync(fd).size;
  }

  static open(path: string, what: string): BinaryFile {
    const failed = (e: unknown) => {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return new InputFileError(`${path}: ${what} not found`, `check the path given for the ${what}`);
      return new InputFileError(`${path}: cannot open ${what}: ${code ?? String(e)}`, 'check the file permissions');
    };
    // The type is checked before opening: opening a FIFO waits for a writer, a device never ends.
    let st: Stats;
    try {
      st = statSync(path);
    } catch (e) {
      throw failed(e);
    }
    if (!st.isFile()) throw notAFile(path, st, what);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw failed(e);
    }
    const opened = fstatSync(fd);
    if (!opened.isFile()) {
      closeSync(fd);
      throw notAFile(path, opened, what);
    }
    return new BinaryFile(path, fd);
  }

  /** Reads exactly `length` bytes at `offset` into `into` (or a new buffer); fails as truncated otherwise. */
  read(offset: number, length: number, into?: Uint8Array): Uint8Array {
    if (offset + length > this.size) {
      throw new ModelFormatError(
        `${this.path}: truncated: needs ${offset + length} bytes, file has ${this.size}`,
        'the file is incomplete; download or export it again',
      );
    }
    const buf = into ?? new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw new ModelFormatError(`${this.path}: unexpected end of file at ${offset + done}`, 'the file is incomplete');
      done += n;
    }
    return buf;
  }

  readF32(offset: number, count: number): Float32Array {
    const out = new Float32Array(count);
    this.read(offset, count * 4, new Uint8Array(out.buffer));
    return fromLittleEndian(out);
  }

  readI8(offset: number, count: number): Int8Array {
    const out = new Int8Array(count);
    this.read(offset, count, new Uint8Array(out.buffer));
    return out;
  }

  view(offset: number, length: number): DataView {
    const b = this.read(offset, length);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export { readBounded } from '../files.js';

/** What a path that is not a regular file is, in the words of ls. */
function notAFile(path: string, st: Stats, what: string): InputFileError {
  const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO (named pipe)' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
  return new InputFileError(`${path}: is ${kind}, not a ${what} file`, `pass the ${what} file itself`);
}

const hostIsLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Model files are little-endian; swap in place on a big-endian host. */
function fromLittleEndian(a: Float32Array): Float32Array {
  if (!hostIsLittleEndian) {
    const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
    for (let i = 0; i < u.length; i++) {
      const v = u[i];
      u[i] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
    }
  }
  return a;
}
