/** Protocols by name: adding one is adding an entry here. */
import { TransportError } from '../errors.js';
import { connectFtp } from './ftp.js';
import { connectSsh } from './ssh.js';
import type { Connect } from './types.js';

export const PROTOCOLS: Record<string, { connect: Connect; defaultPort: number; canExec: boolean }> = {
  ftp: { connect: connectFtp, defaultPort: 21, canExec: false },
  ssh: { connect: connectSsh, defaultPort: 22, canExec: true },
};

export function protocol(name: string) {
  const p = PROTOCOLS[name === 'sftp' ? 'ssh' : name];
  if (!p) throw new TransportError(`unknown transfer protocol "${name}"`, `use one of: ${Object.keys(PROTOCOLS).join(', ')}`);
  return p;
}
