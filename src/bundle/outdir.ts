/**
 * The output folder of `retro build`: staged beside it and moved into place only when complete.
 * It replaces only what retro made (a bundle whose manifest lists every file in it) or an empty
 * folder; anything else needs --force. An interrupted build (SIGINT, SIGTERM) removes its staging
 * and scratch folders before it exits.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { MANIFEST_FILE as MANIFEST } from './names.js';

/** Why retro may not replace `out`, or null when it may. */
function notOurs(out: string): string | null {
  if (!statSync(out).isDirectory()) return 'is a file, not a folder';
  const names = readdirSync(out);
  if (names.length === 0) return null;
  let listed: Set<string>;
  try {
    const m = JSON.parse(readFileSync(join(out, MANIFEST), 'utf8')) as { generator?: unknown; files?: { name?: unknown }[] };
    if (typeof m.generator !== 'string' || !m.generator.startsWith('retro ') || !Array.isArray(m.files)) return 'is not a retro bundle (its manifest.json is not retro\'s)';
    listed = new Set(m.files.map((f) => String(f?.name)));
  } catch {
    return `holds files retro did not make (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`;
  }
  const foreign = names.filter((n) => n !== MANIFEST && !listed.has(n));
  return foreign.length === 0 ? null : `holds files retro did not make (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''})`;
}

function checkReplaceable(out: string, force: boolean): void {
  if (!existsSync(out)) return;
  const why = notOurs(out);
  if (why === null) return;
  if (why.startsWith('is a file')) throw new UsageError(`--out ${out} ${why}`, 'choose a folder for --out');
  if (!force) throw new UsageError(`--out ${out} ${why}; retro replaces only a folder it made, or an empty one`, 'choose another --out folder, or pass --force to replace it');
}

/** Folders to remove if the process is interrupted. */
const pending = new Set<string>();

/** Removes the staging and scratch folders of builds under way; the CLI calls it on SIGINT/SIGTERM. */
export function removeUnfinished(): void {
  for (const p of pending) rmSync(p, { recursive: true, force: true });
  pending.clear();
}

function track(p: string): void {
  pending.add(p);
}

function untrack(p: string): void {
  pending.delete(p);
}

export interface Staging {
  /** The destination, resolved. */
  out: string;
  /** Where the bundle is written; becomes `out` on commit. */
  stage: string;
  /** Scratch space that never becomes part of the bundle. */
  scratch: string;
  /** Replaces `out` with the finished stage (checked again: `out` may have changed meanwhile). */
  commit(): void;
  /** Removes whatever is left of the stage and the scratch folder. */
  close(): void;
}

export function openStaging(dest: string, force: boolean): Staging {
  const out = resolve(dest);
  checkReplaceable(out, force);
  mkdirSync(dirname(out), { recursive: true });
  const stage = mkdtempSync(join(dirname(out), `.${basename(out)}.partial-`));
  track(stage);
  const scratch = mkdtempSync(join(tmpdir(), 'retro-build-'));
  track(scratch);
  return {
    out,
    stage,
    scratch,
    commit() {
      checkReplaceable(out, force);
      if (existsSync(out)) {
        // Out of the way first, removed after: `out` is never missing a bundle it had if the rename fails.
        const old = mkdtempSync(join(dirname(out), `.${basename(out)}.old-`));
        track(old);
        renameSync(out, join(old, 'bundle'));
        renameSync(stage, out);
        rmSync(old, { recursive: true, force: true });
        untrack(old);
      } else {
        renameSync(stage, out);
      }
      untrack(stage);
    },
    close() {
      for (const p of [stage, scratch]) {
        rmSync(p, { recursive: true, force: true });
        untrack(p);
      }
    },
  };
}
