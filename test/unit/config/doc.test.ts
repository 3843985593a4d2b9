import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CONFIG_DOC_COMMAND, configKeyPaths, renderConfigDoc } from '../../../src/config/doc.js';
import { loadConfig, parseConfig } from '../../../src/config/load.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Every key path of a JSON value, walking into objects (not arrays). */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => [prefix + k, ...keyPaths(v, `${prefix}${k}.`)]);
}

/** Schema keys, less those under a key that `json` sets to null (gossip.tls: null has no certFile). */
function expectedKeys(json: unknown): string[] {
  const nulls = keyPaths(json).filter((k) => k.split('.').reduce<unknown>((v, part) => (v as Record<string, unknown>)[part], json) === null);
  return configKeyPaths().filter((k) => !nulls.some((n) => k.startsWith(`${n}.`)));
}

t.test(`docs/CONFIG.md is up to date (regenerate: ${CONFIG_DOC_COMMAND})`, (t) => {
  t.equal(readFileSync(`${root}docs/CONFIG.md`, 'utf8'), renderConfigDoc());
  t.end();
});

t.test('the doc has a row, with a description, for every key', (t) => {
  const lines = renderConfigDoc().split('\n');
  for (const key of configKeyPaths()) {
    const row = lines.find((line) => line.startsWith(`| \`${key}\` |`));
    t.ok(row !== undefined && !row.endsWith('|  |'), key);
  }
  t.end();
});

t.test('config.example.json sets exactly the schema keys, and parses', async (t) => {
  const example: unknown = JSON.parse(readFileSync(`${root}config.example.json`, 'utf8'));
  t.same(keyPaths(example).sort(), expectedKeys(example).sort());
  const config = await loadConfig(`${root}config.example.json`);
  t.equal(config.socket.path, `${root}var/vpc-peerd.sock`);
  t.equal(config.store.path, `${root}var/state.json`);
  t.equal(config.auth.adminTokenFile, `${root}var/admin.token`);
  t.equal(config.ovs.enabled, 'auto');
  t.equal(config.gossip.listen, null);
});

t.test('the resolved Config carries every schema key', (t) => {
  const config = parseConfig({}, '/');
  t.same(keyPaths(config).sort(), expectedKeys(config).sort());
  t.end();
});
