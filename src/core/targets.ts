/** `retro targets`: the known target profiles. */
import { listProfiles } from '../profile/load.js';
import type { Profile } from '../profile/schema.js';

export function runTargets(targetsDir?: string): Profile[] {
  return listProfiles(targetsDir);
}
