/** Turns socket and protocol failures into one clear line with a fix; never includes credentials. */
import { TransportError } from '../errors.js';
import type { Endpoint } from './types.js';

/**
 * The machine refused the data of an upload while still answering: a full disk when its reply
 * says so (`diskFull` true), or when it took some bytes and then closed the data connection
 * without a reply we could read (`diskFull` undefined: the bytes that arrived decide).
 */
export class DataRefused extends TransportError {
  constructor(
    message: string,
    hint: string,
    readonly diskFull: boolean | undefined,
  ) {
    super(message, hint);
  }
}

/** The login hint: names the variable the password was actually read from, and keys only for SSH. */
function loginHint(ep: Endpoint, protocol: string): string {
  const pw = ep.passwordEnv ? `the password (in ${ep.passwordEnv})` : 'the password';
  return protocol === 'ssh' ? `check the user name and ${pw} or the key (--identity)` : `check the user name and ${pw}`;
}

export function connectionError(e: unknown, ep: Endpoint, protocol: string): TransportError {
  const err = e as NodeJS.ErrnoException & { level?: string; code?: string | number };
  const where = `${protocol}://${ep.credentials.user}@${ep.host}:${ep.port}`;
  const code = String(err.code ?? '');
  if (code === 'ECONNREFUSED') return new TransportError(`${where}: connection refused`, `check that the ${protocol.toUpperCase()} server runs on the machine and the port is right`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new TransportError(`${where}: unknown host`, 'check the host name or use its IP address');
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || /timed out|^timeout\b/i.test(err.message ?? '')) {
    return new TransportError(`${where}: host unreachable (timed out)`, 'check the machine is on, on the network, and not firewalled');
  }
  if (err.level === 'client-authentication' || /authentication|530|login/i.test(err.message ?? '')) {
    return new TransportError(`${where}: login failed`, loginHint(ep, protocol));
  }
  return new TransportError(`${where}: ${(err.message ?? String(e)).split('\n')[0]}`, 'check the connection settings');
}
