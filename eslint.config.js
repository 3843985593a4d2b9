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
    ignores: ['src/store/**', 'src/ovs/**', 'src/gossip/**', 'src/domain/**'],
    rules: { 'no-restricted-imports': ['error', { paths: restrictedFor('') }] },
  },
  { files: ['src/store/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: restrictedFor('src/store/') }] } },
  { files: ['src/ovs/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: restrictedFor('src/ovs/') }] } },
  { files: ['src/gossip/**/*.ts'], rules: { 'no-restricted-imports': ['error', { paths: restrictedFor('src/gossip/') }] } },
  {
    // The domain is pure: no Node built-ins, no I/O libraries.
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: restrictedFor('src/domain/'),
        patterns: [{ group: nodeBuiltins, message: 'src/domain/ is pure: no Node built-ins' }],
      }],
    },
  },
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
