/**
 * The TS readers under mutation (issue 12): seed files from ../shared/models with a few bytes
 * changed, cut or u32 fields set to edge values, from a seeded RNG. Every outcome must be
 * success or a RetroError (one line for the user), never another exception, never slow.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RetroError } from '../../src/errors.js';
import { convertModel } from '../../src/model/convert.js';
import { openModel } from '../../src/model/open.js';
import { loadProfile, loadProfileFile } from '../../src/profile/load.js';
import { readMachines } from '../../src/transport/machines.js';
import { loadWeights } from '../../src/model/source.js';
import { readTokenizer } from '../../src/model/tokenizer.js';
import { parseTrace } from '../../src/verify/trace.js';
import { model, REPO, tempDir } from '../helpers/fixtures.js';

/** xorshift32: the same mutations on every run. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

const EDGES = [0, 1, 2, 3, 7, 8, 31, 32, 255, 256, 258, 259, 4096, 65535, 65536, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x7fc00000 /* NaN */, 0x7f800000 /* inf */, 0xbf800000 /* -1 */];

/** One to four mutations, mostly near the start where headers and metadata live. */
export function mutate(seed: Buffer, r: () => number): Buffer {
  let b = Buffer.from(seed);
  const hot = () => Math.floor((r() < 0.8 ? Math.min(b.length, 4096) : b.length) * r());
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n && b.length > 0; i++) {
    const kind = r();
    const at = hot();
    if (kind < 0.35) b[at] ^= 1 << Math.floor(r() * 8);
    else if (kind < 0.75 && at + 4 <= b.length) b.writeUInt32LE(EDGES[Math.floor(r() * EDGES.length)], at & ~3);
    else if (kind < 0.85) b[at] = Math.floor(r() * 256);
    else if (kind < 0.95) b = b.subarray(0, Math.floor(b.length * r()));
    else b = Buffer.concat([b, Buffer.alloc(Math.floor(r() * 64))]);
  }
  return b;
}

const dir = tempDir('retro-fuzz-');

interface Target {
  name: string;
  seed: () => Buffer;
  run: (path: string, bytes: Buffer) => void;
}

const trace = () => {
  const lines = ['# retro-trace 1 target=host mode=free temperature=0 topp=0.9 seed=0:42 steps=3 vocab=512 k=8'];
  for (let p = 0; p < 3; p++) lines.push(`pos ${p} token ${p + 1} next ${p + 2} src p argmax 7 sum -1070.17167 l2 128.109470 top 7:17.0235157 8:15.4 9:15.3 10:15.2 11:15.1 12:15 13:14.9 14:14.8`);
  return Buffer.from(`${lines.join('\n')}\n`, 'latin1');
};

/** A real converted model.rtr: stories260K for the host (little-endian) or the G4 (big-endian). */
function rtr(target: string, quant: 'f32' | 'q8' | 'q4'): Buffer {
  const p = loadProfile(target);
  const src = openModel(model('stories260K.bin'));
  const path = join(dir, `seed-${target}-${quant}.rtr`);
  try {
    convertModel(src, readTokenizer(model('tok512.bin'), 512), { id: p.id, byteOrder: p.cpu.byteOrder, alignment: p.alignment }, quant, 32, path);
  } finally {
    src.close();
  }
  return readFileSync(path);
}

const TARGETS: Target[] = [
  { name: 'model.rtr (host, q8)', seed: () => rtr('host', 'q8'), run: (p) => load(p) },
  { name: 'model.rtr (powerbook-g4, q4, big-endian)', seed: () => rtr('powerbook-g4', 'q4'), run: (p) => load(p) },
  { name: 'llama2.c checkpoint', seed: () => readFileSync(model('stories260K.bin')), run: (p) => load(p) },
  { name: 'llama2.c v2 (Q8_0) checkpoint', seed: () => readFileSync(model('synthetic_v2_q8.bin')), run: (p) => load(p) },
  { name: 'GGUF', seed: () => readFileSync(model('stories260K.gguf')), run: (p) => load(p) },
  { name: 'tokenizer.bin', seed: () => readFileSync(model('tok512.bin')), run: (p) => readTokenizer(p, 512) },
  { name: 'trace', seed: trace, run: (p, bytes) => parseTrace(bytes.toString('latin1'), p) },
  { name: 'profile', seed: () => readFileSync(join(REPO, 'targets/win98-pentium2.json')), run: (p) => loadProfileFile(p) },
  { name: 'retro.config.json', seed: () => Buffer.from(JSON.stringify({ machines: { 'old-pc': { target: 'win98-pentium2', host: '192.168.1.98', via: 'ftp', user: 'retro', remoteDir: '/RETRO', passwordEnv: 'OLD_PC_PASSWORD' }, powerbook: { target: 'powerbook-g4', host: 'powerbook.local', via: 'ssh', user: 'me', identity: 'keys/id_ed25519', port: 22 } } }, null, 2)), run: (p) => readMachines(p, true) },
];

function load(path: string): void {
  const src = openModel(path);
  try {
    loadWeights(src);
  } finally {
    src.close();
  }
}

const MUTATIONS = Number(process.env.RETRO_FUZZ_MUTATIONS ?? 600);

describe('reader fuzzing: success or a RetroError, never another exception, never slow', () => {
  for (const [ti, t] of TARGETS.entries()) {
    it(`${t.name}: ${MUTATIONS} mutations`, () => {
      const seed = t.seed();
      const r = rng(0x5eed + ti);
      const path = join(dir, `m${ti}`);
      const failures: string[] = [];
      let refused = 0;
      let slowest = 0;
      for (let i = 0; i < MUTATIONS; i++) {
        const bytes = mutate(seed, r);
        writeFileSync(path, bytes);
        const t0 = Date.now();
        try {
          t.run(path, bytes);
        } catch (e) {
          if (e instanceof RetroError) {
            refused++;
            if (e.message.length > 400) failures.push(`#${i}: message of ${e.message.length} characters`);
            // Raw file bytes are never echoed: no control characters in what the user reads.
            if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(e.message + e.hint)) failures.push(`#${i}: control characters in the message: ${JSON.stringify(e.message.slice(0, 120))}`);
          } else {
            failures.push(`#${i}: ${(e as Error).name}: ${(e as Error).message.slice(0, 200)}`);
            writeFileSync(join(dir, `crash-${ti}-${i}`), bytes);
          }
        }
        slowest = Math.max(slowest, Date.now() - t0);
      }
      expect(failures.slice(0, 10), `${failures.length} failures, kept in ${dir}`).toEqual([]);
      expect(slowest, 'slowest input (ms)').toBeLessThan(5000);
      expect(refused, 'the mutations must reach the checks').toBeGreaterThan(0);
    }, 300_000);
  }
});
