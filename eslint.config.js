// Lint is part of `npm test`. Type-aware rules catch the async mistakes that matter in a
// proxy (floating promises lose errors; misused promises in callbacks lose backpressure).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const PROTOCOLS = ['postgres', 'mysql', 'ssh', 'http', 'mcp'];

// Persistence goes through the store's repositories: no module outside src/store/ writes its
// own queries or reaches into one implementation (a second store must need no change in
// callers). Part of every no-restricted-imports below: a later config's setting of a rule
// replaces an earlier one's, it does not add to it.
const STORE_PATHS = [{ name: 'kysely', message: 'use a repository of src/store/ (store/repositories/) instead of a database handle' }];
const STORE_PATTERNS = [{ group: ['**/store/sqlite/**', '**/store/schema.ts', '**/store/migrations.ts'], message: 'depend on the Store interface and its repositories, not on an implementation' }];

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
  {
    files: ['src/**/*.ts'],
    ignores: ['src/store/**'],
    rules: { 'no-restricted-imports': ['error', { paths: STORE_PATHS, patterns: STORE_PATTERNS }] },
  },
  {
    // The layering of DESIGN.md: core and the pipeline never import a protocol adapter,
    // and no protocol adapter imports another.
    files: ['src/core/**/*.ts', 'src/policy/**/*.ts', 'src/identity/**/*.ts', 'src/vault/**/*.ts',
      'src/store/**/*.ts', 'src/audit/**/*.ts', 'src/masking/**/*.ts', 'src/reviews/**/*.ts', 'src/recorder/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: STORE_PATHS, patterns: [...STORE_PATTERNS, { group: ['**/protocols/**', '**/api/**', '**/cli/**'], message: 'the pipeline must not depend on adapters, the API or the CLI' }] }],
    },
  },
  {
    // The store's own files may use its implementation, and import nothing of the modules that
    // use it (what they hand over is typed in store/repositories/).
    files: ['src/store/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/protocols/**', '**/api/**', '**/cli/**'], message: 'the pipeline must not depend on adapters, the API or the CLI' }, { group: ['**/audit/**', '**/recorder/**', '**/reviews/**', '**/identity/**', '**/vault/**', '**/connections/**', '**/pipeline/**', '**/runtime/**'], message: 'the store imports nothing of the modules that use it; put shared types in store/repositories/ or core/' }] }] },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: STORE_PATHS, patterns: [{ group: ['../*', '!../core/*'], message: 'core holds domain types only and imports nothing from the rest of src' }] }],
    },
  },
  // No protocol adapter imports another: what they share belongs in the pipeline.
  ...PROTOCOLS.map((p) => ({
    files: [`src/protocols/${p}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { paths: STORE_PATHS, patterns: [...STORE_PATTERNS, { group: PROTOCOLS.filter((o) => o !== p).flatMap((o) => [`**/protocols/${o}/**`, `../${o}/**`, `../../${o}/**`]), message: 'a protocol adapter must not import another; move shared code to the pipeline' }] }],
    },
  })),
);
