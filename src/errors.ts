/**
 * Typed errors for user mistakes. Each carries a hint saying how to fix it;
 * the CLI prints `message (hint)` on one line and exits 1. Anything that is
 * not a RetroError is a bug in retro and is reported as such.
 */
export abstract class RetroError extends Error {
  abstract readonly kind: string;
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A file that cannot be opened as a file: missing, a directory, unreadable. */
export class InputFileError extends RetroError {
  readonly kind = 'input-file';
}

/** A model file that is truncated, corrupt, of unknown format or with impossible dimensions. */
export class ModelFormatError extends RetroError {
  readonly kind = 'model-format';
}

/** A tokenizer file that is corrupt or does not fit the model. */
export class TokenizerError extends RetroError {
  readonly kind = 'tokenizer';
}

/** A target-native model file written for another byte order or target. */
export class ByteOrderError extends RetroError {
  readonly kind = 'byte-order';
}

/** Flags that contradict each other or the model (prompt too long, bad numbers). */
export class UsageError extends RetroError {
  readonly kind = 'usage';
}

/** A target profile that is unknown or fails validation. */
export class ProfileError extends RetroError {
  readonly kind = 'profile';
}

/** A compiler, emulator or other tool that is missing or failed. */
export class ToolchainError extends RetroError {
  readonly kind = 'toolchain';
}

/** A built engine whose output or binary does not meet the target's rules. */
export class VerifyError extends RetroError {
  readonly kind = 'verify';
}

/** A connection, login, host-key or remote file-system failure during deploy/run/fetch. */
export class TransportError extends RetroError {
  readonly kind = 'transport';
}

/** An SSH host key that is unknown or has changed. */
export class HostKeyError extends RetroError {
  readonly kind = 'host-key';
}
