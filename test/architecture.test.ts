/** The layers of docs/architecture.md, checked on the import statements of src/. */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDocTables } from '../src/model/format.js';
import { REPO } from './helpers/fixtures.js';

const SRC = join(REPO, 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every relative import of every source file, as paths under src/ without extension. */
const imports = files(SRC).map((f) => ({
  file: relative(SRC, f).replace(/\.ts$/, ''),
  deps: [...readFileSync(f, 'utf8').matchAll(/from '(\.[^']+)\.js'/g)].map((m) => relative(SRC, resolve(dirname(f), m[1]))),
}));

const top = (path: string) => (path.includes('/') ? path.split('/')[0] : path);

/** Shared descriptions any step may read: what a profile, a quant kind, the model file and a model source are. */
const DESCRIPTIONS = ['errors', 'files', 'version', 'templates', 'profile/schema', 'profile/load', 'quant/kinds', 'model/format', 'model/source', 'model/arch'];
const BASIC_STEPS = ['profile', 'model', 'quant', 'codegen', 'toolchain', 'transport', 'plan'];
/** Steps that assemble others: bundle builds from model, codegen and toolchain; verify checks a bundle. */
const ASSEMBLING = { bundle: [...BASIC_STEPS], verify: [...BASIC_STEPS, 'bundle'] } as Record<string, string[]>;

describe('layers (docs/architecture.md)', () => {
  it('core files import steps only, never another core file', () => {
    const bad = imports.filter((i) => top(i.file) === 'core').flatMap((i) => i.deps.filter((d) => top(d) === 'core').map((d) => `${i.file} -> ${d}`));
    expect(bad).toEqual([]);
  });

  it('nothing imports cli but cli; only cli imports core', () => {
    const bad = imports.filter((i) => top(i.file) !== 'cli').flatMap((i) => i.deps.filter((d) => top(d) === 'cli' || (top(d) === 'core' && top(i.file) !== 'core')).map((d) => `${i.file} -> ${d}`));
    expect(bad).toEqual([]);
  });

  it('the reference imports nothing outside itself', () => {
    const bad = imports.filter((i) => top(i.file) === 'reference').flatMap((i) => i.deps.filter((d) => top(d) !== 'reference').map((d) => `${i.file} -> ${d}`));
    expect(bad).toEqual([]);
  });

  it('steps import their own folder, the reference and the shared descriptions; assembling steps also the steps below them', () => {
    const steps = [...BASIC_STEPS, ...Object.keys(ASSEMBLING)];
    const bad = imports
      .filter((i) => steps.includes(top(i.file)))
      .flatMap((i) =>
        i.deps
          .filter((d) => top(d) !== top(i.file) && top(d) !== 'reference' && !DESCRIPTIONS.includes(d) && !(ASSEMBLING[top(i.file)] ?? []).includes(top(d)))
          .map((d) => `${i.file} -> ${d}`),
      );
    expect(bad).toEqual([]);
  });
});

describe('model.rtr is described once', () => {
  it('docs/model-format.md carries the header and entry tables format.ts renders', () => {
    const doc = readFileSync(join(REPO, 'docs/model-format.md'), 'utf8');
    const t = formatDocTables();
    expect(doc).toContain(t.header);
    expect(doc).toContain(t.entry);
  });
});
