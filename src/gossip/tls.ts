// Reads the mutual-TLS material of gossip (SPEC §8, §11 gossip.tls) at start: every problem of
// the three files is refused at once, each named by its key and file, before any link exists,
// instead of surfacing later as handshake failures on the peers.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { ConfigError, type ConfigIssue } from '../config/config-error.js';
import type { Config } from '../config/schema.js';

/** PEM files are a few KiB; anything past this is not one. */
const MAX_PEM_BYTES = 1024 * 1024;
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;

/** The PEM bytes as Node's TLS takes them (`tls.createSecureContext` cert, key, ca). */
export interface GossipTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

type Files = NonNullable<Config['gossip']['tls']>;

/** The labels of the PEM blocks of `text`, in order. */
function pemLabels(text: string): string[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => m[1] ?? '');
}

function certificates(text: string): X509Certificate[] {
  return [...text.matchAll(PEM_BLOCK)].filter((m) => m[1] === 'CERTIFICATE').map((m) => new X509Certificate(m[0]));
}

/**
 * Loads `gossip.tls` (absolute paths, as Config holds them): null when TLS is off. Throws one
 * ConfigError listing every problem, keyed `gossip.tls.certFile` / `keyFile` / `caFile`, each
 * reason starting with the file: missing or unreadable, not a regular file, over 1 MiB, no PEM
 * block of the right kind, a certificate or key that does not parse, an encrypted key (the
 * daemon has no passphrase), a key file readable or writable by group or others (the same rule
 * as gossip.secretFile: chmod 600), a key that is not the certificate's, a CA file holding a
 * certificate that is not a CA.
 */
export async function loadGossipTls(files: Config['gossip']['tls']): Promise<GossipTls | null> {
  if (files === null) return null;
  const issues: ConfigIssue[] = [];
  const read = async (name: keyof Files, ownerOnly: boolean): Promise<Buffer | null> => {
    const path = files[name];
    const fail = (reason: string): null => {
      issues.push({ key: `gossip.tls.${name}`, reason: `${path}: ${reason}` });
      return null;
    };
    try {
      const info = await stat(path);
      if (!info.isFile()) return fail('is not a regular file');
      if (info.size > MAX_PEM_BYTES) return fail(`is ${info.size} bytes; a PEM file is at most ${MAX_PEM_BYTES}`);
      if (ownerOnly && (info.mode & 0o077) !== 0) {
        return fail(`has mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}; the private key must be readable by its owner only (chmod 600)`);
      }
      return await readFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return fail(code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(e)})`);
    }
  };
  const fail = (name: keyof Files, reason: string): void => {
    issues.push({ key: `gossip.tls.${name}`, reason: `${files[name]}: ${reason}` });
  };

  const [certBytes, keyBytes, caBytes] = [await read('certFile', false), await read('keyFile', true), await read('caFile', false)];
  let leaf: X509Certificate | undefined;
  if (certBytes) {
    const text = certBytes.toString('latin1');
    const labels = pemLabels(text);
    if (!labels.includes('CERTIFICATE')) fail('certFile', 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
    else if (labels.some((l) => l.includes('PRIVATE KEY'))) fail('certFile', 'holds a private key; keep it in keyFile only (mode 600)');
    else {
      try {
        leaf = certificates(text)[0];
      } catch (e) {
        fail('certFile', `holds a certificate that does not parse (${(e as Error).message})`);
      }
    }
  }
  let key: KeyObject | undefined;
  if (keyBytes) {
    const labels = pemLabels(keyBytes.toString('latin1'));
    if (labels.includes('ENCRYPTED PRIVATE KEY')) fail('keyFile', 'is encrypted and the daemon has no passphrase; store it unencrypted (openssl pkey -in K -out K.plain) with mode 600');
    else if (!labels.some((l) => l.endsWith('PRIVATE KEY'))) fail('keyFile', 'holds no PEM private key (-----BEGIN PRIVATE KEY-----)');
    else {
      try {
        key = createPrivateKey(keyBytes);
      } catch (e) {
        fail('keyFile', `holds a private key that does not parse (${(e as Error).message})`);
      }
    }
  }
  if (leaf && key && !leaf.checkPrivateKey(key)) fail('keyFile', `is not the private key of the certificate in ${files.certFile}`);
  if (caBytes) {
    const text = caBytes.toString('latin1');
    if (!pemLabels(text).includes('CERTIFICATE')) fail('caFile', 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
    else {
      try {
        const notCa = certificates(text).find((c) => !c.ca);
        if (notCa) fail('caFile', `holds ${notCa.subject.replace(/\n/g, ', ')}, which is not a CA certificate (basicConstraints CA:TRUE); caFile holds the CA that issued every daemon's certificate`);
      } catch (e) {
        fail('caFile', `holds a certificate that does not parse (${(e as Error).message})`);
      }
    }
  }
  if (issues.length > 0 || !certBytes || !keyBytes || !caBytes) throw new ConfigError(issues);
  return { cert: certBytes, key: keyBytes, ca: caBytes };
}
