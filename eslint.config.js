// Lint is part of `npm test`. Type-aware rules catch the async mistakes that matter in a
// proxy (floating promises lose errors; misused promises in callbacks lose backpressure).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const PROTOCOLS = ['postgres', 'mysql', 'ssh', 'http', 'mcp'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'web/dist/**', 'coverage/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', Buffer: 'readonly', URL: 'readonly', console: 'readonly' } },
  },
  {
    // The CLI and scripts talk to a terminal; library code logs through pino.
    files: ['src/cli/**/*.ts', 'scripts/**', 'bench/**', 'bin/**'],
    rules: { 'no-console': 'off' },
  },
  // The layering of DESIGN.md: core and the pipeline never import a protocol adapter, the API
  // or the CLI. SQL analysis (src/sql: grammars, dialects, lineage) sits below both policy and
  // masking, which never import each other; src/util imports nothing above core.
  ...Object.entries({
    'src/core/**/*.ts': [{ group: ['../*', '!../core/*'], message: 'core holds domain types only and imports nothing from the rest of src' }],
    'src/identity/**/*.ts': [], 'src/vault/**/*.ts': [], 'src/store/**/*.ts': [], 'src/audit/**/*.ts': [],
    'src/reviews/**/*.ts': [], 'src/recorder/**/*.ts': [],
    'src/policy/**/*.ts': [{ group: ['**/masking/**'], message: 'policy and masking must not import each other: shared SQL analysis lives in src/sql, helpers in src/util' }],
    'src/masking/**/*.ts': [
      { group: ['**/policy/**'], message: 'policy and masking must not import each other: shared SQL analysis lives in src/sql, helpers in src/util' },
      { group: ['**/sql/*/**'], message: 'masking reads SQL through a SqlDialect (src/sql/dialect.ts), never a grammar\'s own modules' },
    ],
    'src/sql/**/*.ts': [{ group: ['**/policy/**', '**/masking/**', '**/pipeline/**', '**/runtime/**'], message: 'SQL analysis is below policy and masking: it imports only core, util and the grammars' }],
    'src/util/**/*.ts': [{ group: ['../*', '!../core/*', '!../util/*'], message: 'util holds small helpers and imports nothing above core' }],
  }).map(([files, own]) => ({
    files: [files],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/protocols/**', '**/api/**', '**/cli/**'], message: 'the pipeline must not depend on adapters, the API or the CLI' }, ...own] }],
    },
  })),
  // No protocol adapter imports another: what they share belongs in the pipeline.
  ...PROTOCOLS.map((p) => ({
    files: [`src/protocols/${p}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: PROTOCOLS.filter((o) => o !== p).flatMap((o) => [`**/protocols/${o}/**`, `../${o}/**`, `../../${o}/**`]), message: 'a protocol adapter must not import another; move shared code to the pipeline' }] }],
    },
  })),
);
