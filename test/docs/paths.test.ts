/**
 * Every source path the docs cite exists: a path in backticks or after src/, test/, templates/,
 * bench/ or scripts/, resolved from the repository, src/ or templates/ (the docs name
 * `model/format.ts` for src/model/format.ts). Placeholders such as `<simd>.c.ejs` are skipped.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/fixtures.js';

const DOCS = join(REPO, 'docs');
const PATH = /[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*\.(?:ts|ejs|json|c|md|sh)\b|(?:src|test|templates|bench|scripts|targets|docs)\/[A-Za-z0-9_./-]*/g;
const ROOTS = ['', 'src', 'templates'];

/** The paths a page cites: inside backticks, or any src/... or templates/... in the prose. */
export function citedPaths(text: string): string[] {
  const out = new Set<string>();
  for (const [, code] of text.matchAll(/`([^`\n]+)`/g)) {
    if (code.includes('<') || code.includes('*') || code.includes(' ')) continue;
    for (const m of code.matchAll(PATH)) if (m[0].includes('/')) out.add(m[0]);
  }
  for (const m of text.replace(/`[^`\n]*`/g, '').matchAll(/\b(?:src|templates|test|bench|scripts)\/[A-Za-z0-9_./-]*[A-Za-z0-9_/]/g)) if (!m[0].includes('<')) out.add(m[0]);
  return [...out];
}

describe('the docs cite files that exist', () => {
  const pages = readdirSync(DOCS).filter((f) => f.endsWith('.md'));
  for (const page of pages) {
    it(`docs/${page}`, () => {
      const text = readFileSync(join(DOCS, page), 'utf8');
      const missing = citedPaths(text).filter((p) => !ROOTS.some((r) => existsSync(join(REPO, r, p.replace(/\/$/, '')))));
      expect(missing, `docs/${page} cites paths that do not exist`).toEqual([]);
    });
  }

  it('a cited path that does not exist is found', () => {
    const cited = citedPaths('see `bundle/staging.ts` and src/model/nowhere.ts, not `<simd>.c.ejs`');
    expect(cited.sort()).toEqual(['bundle/staging.ts', 'src/model/nowhere.ts']);
    expect(cited.filter((p) => !ROOTS.some((r) => existsSync(join(REPO, r, p))))).toEqual(cited.sort());
  });
});
