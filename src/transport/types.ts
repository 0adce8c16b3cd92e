/** What deploy needs from a file-transfer protocol. Protocols are registered by name. */
import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';

export interface Credentials {
  user: string;
  password?: string; // held in memory only; never logged
  identity?: string; // private key file (SSH)
  agent?: string; // SSH agent socket
}

export interface Endpoint {
  host: string;
  port: number;
  credentials: Credentials;
  /** SSH host-key checking: a known_hosts file and/or a pinned SHA256 fingerprint. */
  knownHosts?: string;
  hostKeySha256?: string;
  timeoutMs?: number;
  /** The environment variable the password came from, for the login hint (never the value). */
  passwordEnv?: string;
  /** SSH algorithm lists (from the machine config or ~/.ssh/config), for old servers. */
  algorithms?: SshAlgorithms;
}

export interface SshAlgorithms {
  kex?: string[];
  cipher?: string[];
  hmac?: string[];
  serverHostKey?: string[];
}

export interface Transport {
  readonly protocol: string;
  /** Creates the directory and its parents. */
  ensureDir(dir: string): Promise<void>;
  /** Size of a remote file, or undefined when it does not exist. */
  size(path: string): Promise<number | undefined>;
  /** A digest the remote computes itself, by the best algorithm it offers; undefined when it has none. */
  digest(path: string): Promise<Digest | undefined>;
  /** Free bytes in a remote folder, where the protocol can tell. */
  freeBytes?(dir: string): Promise<number | undefined>;
  /** Writes `source` to `path` from byte `offset` (0 = new file, >0 = append to what is there). */
  write(source: Readable, path: string, offset: number, onBytes: (n: number) => void): Promise<void>;
  /** Renames, replacing an existing target. */
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  /** Marks a file executable where the remote has such a thing (best effort). */
  chmod(path: string, mode: number): Promise<void>;
  download(path: string, onData: (chunk: Buffer) => void): Promise<void>;
  /** Runs a command remotely (SSH only), streaming its output; resolves with the exit code. */
  exec?(command: string, onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void): Promise<number>;
  close(): void;
}

export type Connect = (endpoint: Endpoint) => Promise<Transport>;
