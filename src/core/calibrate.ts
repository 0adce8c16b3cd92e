/**
 * `retro calibrate`: time the deployed engine on the real machine (over SSH, one thread, its own
 * wall-clock tok/s), or read the tok/s from a result file the engine's run left on a machine where
 * nothing runs remotely, and write the cycles per multiply-add it implies for the bundle's quant
 * kind into the user's profile (estimate.measured), which retro plan then uses.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputFileError, TransportError, UsageError } from '../errors.js';
import { engineProgram } from '../bundle/engine-program.js';
import { readManifest } from '../bundle/manifest.js';
import { MODEL_FILE } from '../bundle/names.js';
import { engineArgs } from '../codegen/engine-args.js';
import { BinaryFile } from '../model/file.js';
import { readNativeHeader } from '../model/native.js';
import { macsPerToken } from '../plan/memory.js';
import { profileFile } from '../profile/load.js';
import { recordMeasured, type MeasuredSpeed } from '../profile/measured.js';
import type { Profile } from '../profile/schema.js';
import type { QuantKind } from '../quant/kinds.js';
import { machineEntry, resolveRemote, type RemoteRequest, type Secrets } from '../transport/remote.js';
import { shellQuote } from '../transport/ssh.js';

export interface CalibrateRequest extends RemoteRequest {
  bundle?: string;
  /** The profile file to write (created extending the machine's target when missing); default: the target's own file, if it is the user's. */
  profile?: string;
  /** Tokens to time (capped by the model's context). */
  steps: number;
  /** On a machine where nothing runs remotely: the file holding the engine's "achieved tok/s" line (the trace it wrote with -T, or its stderr). */
  result?: string;
}

export interface CalibrateOutcome {
  profileFile: string;
  profile: Profile;
  machine: string;
  quant: QuantKind;
  tokensPerSecond: number;
  macsPerToken: number;
  measured: MeasuredSpeed;
  /** How the figure was got: 'ssh' (timed now) or the result file's remote path. */
  from: string;
}

/** The result file on machines without remote exec: the trace the engine writes with -T, which ends with its tok/s. */
export const CALIBRATION_FILE = 'calib.txt';
const MAX_RESULT_BYTES = 1 << 20;
const PROMPT = 'Once upon a time';

/** The engine's own figure, from its stderr or the stats line it ends a trace with. */
export function parseTokensPerSecond(text: string, where: string): number {
  const m = /achieved tok\/s: ([0-9.]+)/.exec(text);
  const tps = m ? Number(m[1]) : NaN;
  if (!m || !Number.isFinite(tps)) throw new InputFileError(`${where}: no "achieved tok/s" line from the engine`, 'run the engine at the machine with -t 0 -n 256 -j 1 -T and this file name: its trace ends with the figure');
  if (tps <= 0) throw new InputFileError(`${where}: the run was too short to time (achieved tok/s: 0)`, 'time more tokens (--steps), or calibrate with a larger model');
  return tps;
}

export async function runCalibrate(req: CalibrateRequest, secrets: Secrets, progress: (m: string) => void = () => {}): Promise<CalibrateOutcome> {
  const remote = await resolveRemote(req, secrets);
  // The file the machine's target names (resolveRemote has refused a machine without one).
  const ownFile = profileFile((req.target ?? machineEntry(req).target)!, req.targetsDir);
  const out = req.profile ?? ownFile;
  const bundle = resolve(req.bundle ?? remote.bundle ?? join('dist', remote.profile.id));
  const manifest = readManifest(bundle);
  const modelPath = join(bundle, MODEL_FILE);
  if (!existsSync(modelPath)) throw new InputFileError(`${modelPath}: no model in the bundle`, `build it with retro build --target ${remote.profile.id}`);
  const file = BinaryFile.open(modelPath, 'model');
  let header;
  try {
    header = readNativeHeader(file, { order: remote.profile.cpu.byteOrder, targetId: remote.profile.id });
  } finally {
    file.close();
  }
  const macs = macsPerToken(header);
  const dir = remote.remoteDir.replace(/\/$/, '');
  const steps = Math.min(req.steps, header.config.seqLen);
  const t = await remote.connect();
  let text: string;
  let from: string;
  try {
    if (remote.canExec) {
      const { program, build } = engineProgram(remote.profile, manifest, bundle, shellQuote);
      // One thread: plan's estimate is for one core.
      const args = engineArgs({ model: MODEL_FILE, temperature: 0, steps, prompt: Buffer.from(PROMPT), threads: 1 });
      progress(`timing ${program} on ${remote.name}: ${steps} tokens of ${header.quant}, one thread`);
      const err: Buffer[] = [];
      const code = await t.exec!(`cd ${shellQuote(remote.remoteDir)} && ${build}./${program} ${args.map(shellQuote).join(' ')}`, () => {}, (b) => err.push(b));
      text = Buffer.concat(err).toString('utf8');
      if (code !== 0) {
        const last = text.trim().split('\n').at(-1) ?? '';
        throw new TransportError(`${remote.name}: the engine exited with ${code}${last ? `: ${last.slice(0, 200)}` : ''}`, `deploy the bundle first (retro deploy${req.machine ? ` ${req.machine}` : ''}) and check it runs (retro run)`);
      }
      from = 'ssh';
    } else {
      const name = req.result ?? (remote.profile.os.fileNames === '8.3' ? CALIBRATION_FILE.toUpperCase() : CALIBRATION_FILE);
      from = name.includes('/') ? name : `${dir}/${name}`;
      const size = await t.size(from);
      if (size === undefined) throw new TransportError(`${remote.name}: ${from} does not exist`, `run the engine at the machine with -t 0 -n 256 -j 1 -T ${name} (its trace ends with the tok/s), then calibrate again`);
      if (size > MAX_RESULT_BYTES) throw new InputFileError(`${remote.name}: ${from} is larger than ${MAX_RESULT_BYTES} bytes`, 'name the engine\'s result file with --result');
      const chunks: Buffer[] = [];
      await t.download(from, (c) => chunks.push(c));
      text = Buffer.concat(chunks).toString('latin1');
    }
  } finally {
    t.close();
  }
  const tps = parseTokensPerSecond(text, from === 'ssh' ? `${remote.name}: the engine's output` : `${remote.name}: ${from}`);
  const cyclesPerMac = (remote.profile.cpu.clockMhz * 1e6) / (tps * macs);
  const date = new Date().toISOString().slice(0, 10);
  const measured: MeasuredSpeed = {
    cyclesPerMac: +cyclesPerMac.toPrecision(4),
    how: `retro calibrate ${date} on ${remote.name}: ${tps} tok/s (the engine's wall clock${from === 'ssh' ? `, ${steps} tokens, one thread` : `, read from ${from}, as the run that wrote it was started`}) for ${manifest.model.description} as ${header.quant} (${(macs / 1e6).toFixed(2)} M multiply-adds per token) at the profile's ${remote.profile.cpu.clockMhz} MHz`,
  };
  const profile = recordMeasured(out, { id: remote.profile.id, file: ownFile }, header.quant, measured);
  return { profileFile: resolve(out), profile, machine: remote.name, quant: header.quant, tokensPerSecond: tps, macsPerToken: macs, measured, from };
}
