/**
 * Tests that need a cross compiler or emulator. In CI (RETRO_REQUIRE_TOOLCHAINS=1)
 * a missing tool fails the test; on a developer's machine it is skipped with the reason printed.
 */
import { which } from '../../src/toolchain/tools.js';

export function haveTools(...cmds: string[]): boolean {
  const missing = cmds.filter((c) => !which(c));
  if (missing.length === 0) return true;
  if (process.env.RETRO_REQUIRE_TOOLCHAINS) throw new Error(`required tools missing: ${missing.join(', ')} (run scripts/install-toolchains.sh)`);
  console.warn(`skipping: ${missing.join(', ')} not installed (retro doctor --install)`);
  return false;
}
