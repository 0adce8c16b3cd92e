/**
 * What deploy, run and fetch share: which machine (a named one from retro.config.json, or flags
 * that override it), which protocol, and the credentials, asked for only when needed.
 */
import { connect } from 'node:net';
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { loadProfile } from '../profile/load.js';
import type { Profile } from '../profile/schema.js';
import { connectionError } from './errors.js';
import { CONFIG_FILE, findMachine, readMachines, type MachineConfig } from './machines.js';
import { protocol } from './registry.js';
import { LEGACY_ALGORITHMS, mergeAlgorithms, readSshConfig } from './sshconfig.js';
import type { Endpoint, Transport } from './types.js';

export interface RemoteRequest {
  machine?: string;
  config?: string;
  target?: string;
  targetsDir?: string;
  via?: string;
  host?: string;
  port?: number;
  user?: string;
  remoteDir?: string;
  identity?: string;
  knownHosts?: string;
  hostKeySha256?: string;
  passwordEnv?: string;
  timeoutMs?: number;
  /** Offer the algorithms of old OpenSSH servers too (docs/ssh-legacy.md). */
  sshLegacy?: boolean;
}

/** What the caller (the CLI) provides from the user's environment. */
export interface Secrets {
  /** The value of an environment variable, or an interactive prompt; undefined when neither is possible. */
  password(envName: string, prompt: string): Promise<string | undefined>;
  /** The SSH agent socket, if one runs. */
  agent?: string;
  /** Default known_hosts file (~/.ssh/known_hosts). */
  knownHosts?: string;
  /** The user's ssh config file (~/.ssh/config), read for the host's entries. */
  sshConfig?: string;
  /** The local user name, used when none is given. */
  user: string;
}

export interface Remote {
  profile: Profile;
  name: string;
  protocolName: string;
  endpoint: Endpoint;
  remoteDir: string;
  bundle?: string;
  canExec: boolean;
  connect(): Promise<Transport>;
}

export const DEFAULT_PASSWORD_ENV = 'RETRO_PASSWORD';

/** Opens and closes a TCP connection to the endpoint: the errors of a down or unreachable machine, before any login. */
function reachable(ep: Endpoint, protocol: string): Promise<void> {
  return new Promise((ok, fail) => {
    const socket = connect({ host: ep.host, port: ep.port });
    socket.setTimeout(ep.timeoutMs ?? 15000, () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    socket.once('connect', () => {
      socket.destroy();
      ok();
    });
    socket.once('error', (e) => fail(connectionError(e, ep, protocol)));
  });
}

/** `[user@]host[:dir]`, as scp and rsync take it. */
const SPEC = /^(?:([^@:/\s]+)@)?([^@:/\s]+)(?::(.*))?$/;

/**
 * The machine a name stands for: an entry of retro.config.json (paths made relative to it), or
 * a `user@host:dir` spec when the name has an @ or a colon and the config has no such entry.
 */
export function machineEntry(req: Pick<RemoteRequest, 'machine' | 'config'>): Partial<MachineConfig> & { name?: string } {
  if (req.machine === undefined) return {};
  const path = resolve(req.config ?? CONFIG_FILE);
  const machines = readMachines(path, req.config !== undefined);
  const spec = SPEC.exec(req.machine);
  if (!Object.hasOwn(machines, req.machine) && spec && /[@:]/.test(req.machine)) return { host: spec[2], user: spec[1], remoteDir: spec[3] || undefined };
  const m = findMachine(req.machine, machines, path);
  // Paths in the config file are relative to it.
  const rel = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : join(path, '..', p));
  return { ...m, name: req.machine, identity: rel(m.identity), knownHosts: rel(m.knownHosts), bundle: rel(m.bundle), target: m.target?.endsWith('.json') ? rel(m.target) : m.target };
}

export async function resolveRemote(req: RemoteRequest, secrets: Secrets): Promise<Remote> {
  const m = machineEntry(req);
  const target = req.target ?? m.target;
  if (!target) throw new UsageError('no target given', 'pass --target <id>, or name a machine from retro.config.json');
  const profile = loadProfile(target, req.targetsDir);
  const alias = req.host ?? m.host;
  if (!alias) throw new UsageError('no host given', 'pass --host <name or address>, or name a machine from retro.config.json');
  const protocolName = req.via ?? m.via ?? profile.transfer.protocol;
  const proto = protocol(protocolName);
  // ~/.ssh/config fills what neither the flags nor retro.config.json say, as ssh itself would.
  const sc = proto.canExec ? readSshConfig(secrets.sshConfig, alias) : { algorithms: {} };
  const host = sc.hostName ?? alias;
  const port = req.port ?? m.port ?? sc.port ?? (protocolName === profile.transfer.protocol ? profile.transfer.port : undefined) ?? proto.defaultPort;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`port ${port} is not in 1..65535`, 'pass --port with a valid port number');
  const identity = req.identity ?? m.identity ?? sc.identityFile;
  const agent = secrets.agent;
  const passwordEnv = req.passwordEnv ?? m.passwordEnv ?? DEFAULT_PASSWORD_ENV;
  const user = req.user ?? m.user ?? sc.user ?? secrets.user;
  const name = m.name ?? `${user}@${host}`;
  // SSH logs in with a key when there is one; FTP always needs a password.
  const needsPassword = proto.canExec ? identity === undefined && agent === undefined : true;
  const endpoint: Endpoint = {
    host,
    port,
    credentials: { user, identity, agent: identity === undefined ? agent : undefined },
    knownHosts: req.knownHosts ?? m.knownHosts ?? sc.userKnownHostsFile ?? secrets.knownHosts,
    algorithms: mergeAlgorithms(sc.algorithms, (req.sshLegacy ?? m.ssh?.legacy) ? LEGACY_ALGORITHMS : undefined, m.ssh && { kex: m.ssh.kex, cipher: m.ssh.cipher, hmac: m.ssh.hmac, serverHostKey: m.ssh.serverHostKey }),
    hostKeySha256: req.hostKeySha256 ?? m.hostKeySha256,
    timeoutMs: req.timeoutMs,
  };
  return {
    profile,
    name,
    protocolName,
    endpoint,
    remoteDir: req.remoteDir ?? m.remoteDir ?? profile.transfer.remoteDir,
    bundle: m.bundle,
    canExec: proto.canExec,
    async connect() {
      if (needsPassword && endpoint.credentials.password === undefined) {
        // A machine that is off or unreachable is the first thing to say, before asking for a password.
        await reachable(endpoint, protocolName);
        const pw = await secrets.password(passwordEnv, `password for ${user}@${host}: `);
        if (pw === undefined) {
          throw new UsageError(`no password for ${user}@${host}`, `set the environment variable ${passwordEnv}${proto.canExec ? ', or use a key with --identity' : ''}; passwords are never taken on the command line`);
        }
        endpoint.credentials.password = pw;
        endpoint.passwordEnv = passwordEnv;
      }
      return proto.connect(endpoint);
    },
  };
}
