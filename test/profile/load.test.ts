import { totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProfileError } from '../../src/errors.js';
import { listProfiles, loadProfile } from '../../src/profile/load.js';
import { tempDir } from '../helpers/fixtures.js';
import { retro } from '../helpers/cli.js';

describe('built-in profiles', () => {
  it('lists the three machines and the host, not the base', () => {
    expect(listProfiles().map((p) => p.id).sort()).toEqual(['host', 'powerbook-g4', 'win98-pentium2', 'xbox360-xenon']);
  });

  it('extends merges the base: the G4 inherits big-endian from base-powerpc and overrides the rest', () => {
    const g4 = loadProfile('powerbook-g4');
    expect(g4.cpu.byteOrder).toBe('big');
    expect(g4.cpu.clockMhz).toBe(1500);
    expect(g4.cpu.simd).toEqual(['altivec']);
    expect(g4.abstract).toBe(false);
    const x = loadProfile('xbox360-xenon');
    expect(x.alignment).toBe(128);
    expect(x.cpu.byteOrder).toBe('big');
  });

  it('the facts from the platform notes', () => {
    const w = loadProfile('win98-pentium2');
    expect(w.os.fileNames).toBe('8.3');
    expect(w.cpu.simd).toContain('mmx');
    expect(w.toolchains.map((t) => t.id)).toEqual(['bcc32', 'wcl386', 'msvc6']);
    expect(w.cross[0].flags).toEqual(expect.arrayContaining(['-march=pentium2', '-mno-sse']));
  });
});

describe('errors name the file, the field and the fix', () => {
  const dir = tempDir();
  const write = (name: string, data: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof data === 'string' ? data : JSON.stringify(data));
    return p;
  };

  it('a misspelt SIMD family, OS family or build script is refused with the known names', () => {
    const simd = write('typo-simd.json', { extends: 'powerbook-g4', id: 'typo-simd', cpu: { simd: ['altivek'] } });
    expect(() => loadProfile(simd)).toThrow(/field cpu\.simd\.0: unknown SIMD family "altivek"; known: altivec, mmx/);
    const os = write('typo-os.json', { extends: 'powerbook-g4', id: 'typo-os', os: { family: 'posx' } });
    expect(() => loadProfile(os)).toThrow(/field os\.family: unknown OS family "posx"; known: posix, win32, xenon/);
    const standIn = write('typo-cross.json', { extends: 'win98-pentium2', id: 'typo-cross', cross: [{ ...loadProfile('win98-pentium2').cross[1], osFamily: 'linux' }] });
    expect(() => loadProfile(standIn)).toThrow(/field cross\.0\.osFamily: unknown OS family "linux"/);
    const script = write('typo-script.json', { extends: 'host', id: 'typo-script', toolchains: [{ ...loadProfile('host').toolchains[0], script: 'cmake' }] });
    expect(() => loadProfile(script)).toThrow(/field toolchains\.0\.script: unknown build script "cmake"; known: bat, makefile/);
    try {
      loadProfile(simd);
    } catch (e) {
      expect((e as ProfileError).hint).toMatch(/templates\/kernels\/altivek\.c\.ejs/);
    }
  });

  it('a Windows 98 machine gets its import allowlist from the OS base', () => {
    const w = loadProfile('win98-pentium2');
    expect(Object.keys(w.os.imports ?? {})).toEqual(expect.arrayContaining(['KERNEL32.dll', 'msvcrt.dll']));
  });

  it('unknown id lists the known ones', () => {
    expect(() => loadProfile('amiga-500')).toThrow(/unknown target "amiga-500"; known targets: host, powerbook-g4, win98-pentium2, xbox360-xenon/);
  });

  it('a bad field: file, field path and expected type', () => {
    const p = write('bad.json', { extends: 'powerbook-g4', id: 'bad', cpu: { byteOrder: 'middle' } });
    let err: unknown;
    try {
      loadProfile(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProfileError);
    expect((err as Error).message).toMatch(/bad\.json: field cpu\.byteOrder: .*'little' \| 'big'.*'middle'/);
  });

  it('a wrong type and an unknown field', () => {
    expect(() => loadProfile(write('t.json', { extends: 'powerbook-g4', id: 't', memory: { ramMb: 'lots' } }))).toThrow(/field memory\.ramMb: Expected number, received string/);
    expect(() => loadProfile(write('u.json', { extends: 'powerbook-g4', id: 'u', colour: 'beige' }))).toThrow(/Unrecognized key\(s\) in object: 'colour'/);
    expect(() => loadProfile(write('a.json', { extends: 'powerbook-g4', id: 'a', alignment: 12 }))).toThrow(/field alignment: a power of two/);
  });

  it('a disk model: each built-in machine has one with its source; a missing rate, a negative time per read or a missing source is refused', () => {
    for (const id of ['win98-pentium2', 'powerbook-g4', 'xbox360-xenon']) {
      const d = loadProfile(id).disk;
      expect(d.mbPerS).toBeGreaterThan(0);
      expect(d.msPerRead).toBeGreaterThan(1);
      expect(d.source.length).toBeGreaterThan(40);
      expect(d.alternatives.map((x) => x.id)).toContain('usb2-stick');
    }
    expect(loadProfile('powerbook-g4').disk.alternatives.map((x) => x.id)).toContain('ata-4200');
    expect(() => loadProfile(write('d1.json', { extends: 'powerbook-g4', id: 'd1', disk: { mbPerS: null } }))).toThrow(/field disk\.mbPerS: Expected number, received null/);
    expect(() => loadProfile(write('d2.json', { extends: 'powerbook-g4', id: 'd2', disk: { msPerRead: -1 } }))).toThrow(/field disk\.msPerRead: Number must be greater than or equal to 0/);
    const noSource = write('d3.json', { extends: 'powerbook-g4', id: 'd3', disk: { alternatives: [{ id: 'x', name: 'x', mbPerS: 1, msPerRead: 1 }] } });
    expect(() => loadProfile(noSource)).toThrow(/field disk\.alternatives\.0\.source: Required/);
  });

  it('broken JSON, unknown base, a cycle', () => {
    expect(() => loadProfile(write('j.json', '{ "id": '))).toThrow(/j\.json: not valid JSON/);
    expect(() => loadProfile(write('b.json', { extends: 'base-amiga', id: 'b' }))).toThrow(/extends unknown profile "base-amiga"/);
    write('c1.json', { extends: 'c2', id: 'c1' });
    write('c2.json', { extends: 'c1', id: 'c2' });
    expect(() => loadProfile(join(dir, 'c1.json'))).toThrow(/extends itself/);
  });

  it('a user profile file works as --target', () => {
    const p = write('my-g4.json', { extends: 'powerbook-g4', id: 'my-g4', name: 'My G4 at 1.67 GHz', cpu: { clockMhz: 1670 } });
    const prof = loadProfile(p);
    expect(prof.id).toBe('my-g4');
    expect(prof.cpu.clockMhz).toBe(1670);
    expect(prof.cross[0].compiler).toBe('powerpc-linux-gnu-gcc');
  });

  it('a folder of user profiles joins the list', () => {
    const d = tempDir();
    writeFileSync(join(d, 'my-mac.json'), JSON.stringify({ extends: 'powerbook-g4', id: 'my-mac', name: 'My Mac' }));
    expect(listProfiles(d).map((p) => p.id)).toContain('my-mac');
    expect(loadProfile('my-mac', d).name).toBe('My Mac');
  });
});

describe('extends by path', () => {
  it('a profile found by name cannot extend a path outside its folder; one given as a path can', async () => {
    const root = tempDir();
    const folder = join(root, 'profiles');
    mkdirSync(folder);
    // A profile outside the folder, reachable only by "../".
    writeFileSync(join(root, 'outside.json'), JSON.stringify({ extends: 'powerbook-g4', id: 'outside', name: 'outside the folder', cpu: { clockMhz: 1234 } }));
    writeFileSync(join(folder, 'sneaky.json'), JSON.stringify({ extends: '../outside', id: 'sneaky', name: 'Sneaky' }));
    expect(() => loadProfile('sneaky', folder)).toThrow(ProfileError);
    expect(() => loadProfile('sneaky', folder)).toThrow(/sneaky\.json: field extends: "\.\.\/outside" is a path, and a profile found by name extends only profile names \(paths are allowed only in a profile given as a path/);
    // An absolute path is a path too.
    writeFileSync(join(folder, 'abs.json'), JSON.stringify({ extends: join(root, 'outside'), id: 'abs', name: 'Abs' }));
    expect(() => loadProfile('abs', folder)).toThrow(/field extends: ".*outside" is a path/);
    // Listing the folder refuses it too (it loads every profile by name).
    expect(() => listProfiles(folder)).toThrow(/is a path/);
    // Given as a path itself, the same file may extend by path.
    const given = loadProfile(join(folder, 'sneaky.json'));
    expect(given.id).toBe('sneaky');
    expect(given.cpu.clockMhz).toBe(1234);
    // The CLI: one line, exit 1, the fix says how.
    const r = await retro(['plan', '--target', 'sneaky', '--targets', folder]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^retro: .*is a path.*\(fix: name a profile of the same folder or a built-in one.*--target\)$/m);
  });
});

describe('retro targets', () => {
  it('prints a table and --json', async () => {
    const t = await retro(['targets']);
    expect(t.code).toBe(0);
    expect(t.stdout.toString()).toMatch(/powerbook-g4\s+PowerBook G4.*big/);
    const j = await retro(['targets', '--json']);
    const data = JSON.parse(j.stdout.toString());
    expect(data.find((p: { id: string }) => p.id === 'win98-pentium2').cpu.byteOrder).toBe('little');
  });

  it('unknown target through the CLI: one line, exit 1', async () => {
    const r = await retro(['build', '--target', 'amiga-500', '--no-compile']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/known targets: host, powerbook-g4/);
  });
});

describe('the host profile', () => {
  it('has the RAM of the computer retro runs on ("ramMb": "this-machine"), not a figure written once', () => {
    expect(loadProfile('host').memory.ramMb).toBe(Math.floor(totalmem() / 1048576));
  });
});
