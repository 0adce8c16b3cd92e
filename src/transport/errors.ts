/** Turns socket and protocol failures into one clear line with a fix; never includes credentials. */
import { TransportError } from '../errors.js';
import type { Endpoint } from './types.js';

export function connectionError(e: unknown, ep: Endpoint, protocol: string): TransportError {
  const err = e as NodeJS.ErrnoException & { level?: string; code?: string | number };
  const where = `${protocol}://${ep.credentials.user}@${ep.host}:${ep.port}`;
  const code = String(err.code ?? '');
  if (code === 'ECONNREFUSED') return new TransportError(`${where}: connection refused`, `check that the ${protocol.toUpperCase()} server runs on the machine and the port is right`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new TransportError(`${where}: unknown host`, 'check the host name or use its IP address');
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || /timed out/i.test(err.message ?? '')) {
    return new TransportError(`${where}: host unreachable (timed out)`, 'check the machine is on, on the network, and not firewalled');
  }
  if (err.level === 'client-authentication' || /authentication|530|login/i.test(err.message ?? '')) {
    return new TransportError(`${where}: login failed`, 'check the user name and the password (RETRO_PASSWORD) or key (--identity)');
  }
  return new TransportError(`${where}: ${(err.message ?? String(e)).split('\n')[0]}`, 'check the connection settings');
}
