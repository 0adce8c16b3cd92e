import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/profile/load.js';
import { CHECKS, peImports } from '../../src/toolchain/tools.js';
import { tempDir } from '../helpers/fixtures.js';
import { needTools } from '../helpers/tools.js';

describe('Windows 98 import allowlist', () => {
  const profile = loadProfile('win98-pentium2');
  const check = profile.cross[0].checks[0];
  const dir = tempDir();

  async function exe(name: string, body: string): Promise<string> {
    const src = join(dir, `${name}.c`);
    writeFileSync(src, body);
    const out = join(dir, `${name}.exe`);
    await execa('i686-w64-mingw32-gcc', ['-O2', '-o', out, src]);
    return out;
  }

  it('passes a plain C89 program and fails one that calls a post-98 API', async (ctx) => {
    needTools(ctx, 'i686-w64-mingw32-gcc', 'i686-w64-mingw32-objdump');
    const ok = await exe('ok', '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n');
    const good = await CHECKS[check.kind](check, ok, profile);
    expect(good.ok, good.detail).toBe(true);
    // GetTickCount64 arrived with Windows Vista
    const bad = await exe('bad', '#include <windows.h>\n#include <stdio.h>\nint main(void) { printf("%lu\\n", (unsigned long)GetTickCount64()); return 0; }\n');
    const imports = await peImports(check.objdump, bad);
    expect(imports.get('KERNEL32.dll')).toContain('GetTickCount64');
    const r = await CHECKS[check.kind](check, bad, profile);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/KERNEL32\.dll!GetTickCount64/);
  });
});
