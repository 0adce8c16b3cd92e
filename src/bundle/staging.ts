/**
 * A bundle is staged in a scratch folder beside its destination and renamed into place only when
 * complete, so a failed or interrupted build never leaves a half-written bundle under its name.
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export class Staging {
  readonly dir: string;
  readonly out: string;

  constructor(out: string) {
    this.out = resolve(out);
    mkdirSync(dirname(this.out), { recursive: true });
    this.dir = mkdtempSync(join(dirname(this.out), `.${basename(this.out)}.partial-`));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Replaces the destination with the staged folder. */
  commit(): string {
    if (existsSync(this.out)) rmSync(this.out, { recursive: true, force: true });
    renameSync(this.dir, this.out);
    return this.out;
  }

  abort(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
