/** ~/.ssh/config as ssh reads it: Host patterns, first value wins, +lists add to the defaults. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LEGACY_ALGORITHMS, mergeAlgorithms, readSshConfig, ssh2Algorithms } from '../../src/transport/sshconfig.js';
import { tempDir } from '../helpers/fixtures.js';

describe('ssh config and algorithm lists', () => {
  const file = join(tempDir(), 'config');
  writeFileSync(
    file,
    [
      '# old Macs',
      'Host *.local !modern.local',
      '  HostKeyAlgorithms +ssh-rsa',
      '  Port 2222',
      'Host tiger.local',
      '  Port 22',
      '  User = me',
      '  Ciphers aes128-cbc,3des-cbc',
      '  KexAlgorithms +diffie-hellman-group1-sha1',
      'Host *',
      '  User nobody',
      '',
    ].join('\n'),
  );

  it('applies the matching blocks, first value winning, negations excluded', () => {
    const t = readSshConfig(file, 'tiger.local');
    expect(t).toMatchObject({ port: 2222, user: 'me', algorithms: { serverHostKey: ['+ssh-rsa'], cipher: ['aes128-cbc', '3des-cbc'], kex: ['+diffie-hellman-group1-sha1'] } });
    const m = readSshConfig(file, 'modern.local');
    expect(m).toEqual({ user: 'nobody', algorithms: {} });
    expect(readSshConfig(join(tempDir(), 'none'), 'x')).toEqual({ algorithms: {} });
  });

  it('+names add to the defaults, plain names replace them; ssh2 gets { append } or a list', () => {
    const merged = mergeAlgorithms({ cipher: ['aes128-cbc'] }, LEGACY_ALGORITHMS, { kex: ['diffie-hellman-group14-sha1'] });
    // An exact list, then additions: the list with what is added after it.
    expect(ssh2Algorithms(merged)).toEqual({
      cipher: ['aes128-cbc', 'aes192-cbc', 'aes256-cbc', '3des-cbc'],
      kex: ['diffie-hellman-group14-sha1'],
      hmac: { append: ['hmac-sha1', 'hmac-md5', 'hmac-sha1-96', 'hmac-md5-96'] },
      serverHostKey: { append: ['ssh-rsa', 'ssh-dss'] },
    });
    expect(mergeAlgorithms(undefined, {})).toBeUndefined();
  });
});
