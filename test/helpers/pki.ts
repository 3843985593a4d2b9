// A throw-away certificate authority for mutual-TLS tests (gossip.tls, SPEC §8): a CA and leaf
// certificates it signs, made with the openssl command (P-256 keys, valid two days, every leaf
// for 127.0.0.1 and localhost, for both server and client use). Files go in `dir`, keys mode 0600.
import { execFile } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The three files of gossip.tls for one daemon. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export interface TestCa {
  /** The CA certificate (PEM). */
  readonly caFile: string;
  /** A leaf certificate and key for `name`, signed by this CA. */
  issue(name: string): Promise<TlsFiles>;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('openssl is not installed: apt-get install openssl', { cause: err });
    throw err;
  }
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Makes a CA named `name` in `dir`. Throws, saying what to install, without openssl. */
export async function createTestCa(dir: string, name = 'test-ca'): Promise<TestCa> {
  const caFile = join(dir, `${name}.pem`);
  const caKey = join(dir, `${name}.key`);
  await openssl(['req', '-x509', ...KEY, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n');
  return {
    caFile,
    async issue(leaf) {
      const keyFile = join(dir, `${leaf}.key`);
      const csr = join(dir, `${leaf}.csr`);
      const certFile = join(dir, `${leaf}.pem`);
      await openssl(['req', ...KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${leaf}`]);
      await openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]);
      chmodSync(keyFile, 0o600);
      return { certFile, keyFile, caFile };
    },
  };
}
