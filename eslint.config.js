// Lint: typescript-eslint's type-aware recommended set, plus the import boundaries of STYLE.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'net', 'child_process', 'os', 'path', 'crypto'];

/** Modules that only their owner folder may import. */
const owned = [
  { name: 'lowdb', owner: 'src/store/' },
  { name: 'lowdb/node', owner: 'src/store/' },
  { name: 'node:child_process', owner: 'src/ovs/' },
  { name: 'ws', owner: 'src/gossip/' },
];

function restrictedFor(folder) {
  return owned
    .filter((o) => o.owner !== folder)
    .map((o) => ({ name: o.name, message: `only ${o.owner} may import ${o.name}` }));
}

/**
 * Which folders of src/ each folder may import (STYLE.md practice 2): domain ← store ←
 * rpc/reconcile ← daemon, and ovs ← reconcile; nothing imports the composition root.
 */
const layers = {
  log: [],
  errors: [],
  config: ['domain', 'log'],
  domain: ['errors'],
  store: ['domain', 'errors', 'log'],
  ovs: ['log'],
  reconcile: ['domain', 'log', 'ovs'],
  auth: ['config', 'domain', 'errors', 'log'],
  metrics: ['gossip', 'log', 'ovs', 'reconcile', 'store'],
  systemd: ['log', 'reconcile', 'store'],
  rpc: ['auth', 'config', 'domain', 'errors', 'gossip', 'log', 'metrics', 'reconcile', 'store'],
  gossip: ['config', 'domain', 'errors', 'log', 'store'],
  cli: ['config', 'errors', 'log', 'rpc'],
};
const folders = Object.keys(layers).filter((f) => f !== 'errors');
const root = ['daemon', 'main'];

/** Import patterns a folder may not use: the folders below it are allowed, nothing else. */
function layerPatterns(folder) {
  const allowed = new Set([folder, ...layers[folder]]);
  const folderGroup = folders.filter((f) => !allowed.has(f)).map((f) => `**/${f}/*`);
  // The root files of src/, as a file one or two folders down names them.
  const fileGroup = [...root, ...(allowed.has('errors') ? [] : ['errors'])].flatMap((f) => [`../${f}.js`, `../../${f}.js`]);
  return [{ group: [...folderGroup, ...fileGroup], message: `src/${folder}/ may import only ${[...allowed].join(', ')} of src/ (eslint.config.js layers)` }];
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tap/', 'var/', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: restrictedFor('') }] },
  },
  ...folders.map((folder) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        paths: restrictedFor(`src/${folder}/`),
        patterns: [
          ...layerPatterns(folder),
          // The domain is pure: no Node built-ins, no I/O libraries.
          ...(folder === 'domain' ? [{ group: nodeBuiltins, message: 'src/domain/ is pure: no Node built-ins' }] : []),
        ],
      }],
    },
  })),
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'src/cli/**/*.ts', 'src/main.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      // tap callbacks are async by convention (tap awaits them); many never await.
      '@typescript-eslint/require-await': 'off',
    },
  },
);
