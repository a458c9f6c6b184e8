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

// Who may import whom (low to high): core < util < config, telemetry < sql < policy, masking,
// identity, vault, store, audit, recorder, reviews, notify, connections < pipeline < protocols
// < api < runtime < cli. Each entry lists what a folder must not import.
const ADAPTERS = { group: ['**/protocols/**', '**/api/**', '**/cli/**'], message: 'the pipeline and what it is made of must not depend on adapters, the API or the CLI' };
const WIRING = { group: ['**/pipeline/**', '**/runtime/**'], message: 'a lower layer is called by the pipeline and wired by the runtime; it imports neither' };
const CYCLE = 'policy and masking must not import each other: shared SQL analysis lives in src/sql, helpers in src/util';
const LOWER = [ADAPTERS, WIRING];
const FOLDERS = ['core', 'util', 'config', 'telemetry', 'sql', 'policy', 'masking', 'identity', 'vault', 'store', 'audit', 'recorder', 'reviews', 'notify', 'connections', 'pipeline', 'protocols', 'api', 'runtime', 'cli'];
/** Import patterns of every folder of src/ but these (and the folder's own, reached with ./). */
function onlyFrom(allowed) {
  return FOLDERS.filter((f) => !allowed.includes(f)).map((f) => `**/${f}/**`);
}
const LAYERS = {
  core: [{ group: onlyFrom([]), message: 'core holds domain types only and imports nothing from the rest of src' }],
  util: [{ group: onlyFrom(['core']), message: 'util holds small helpers and imports nothing above core' }],
  telemetry: [...LOWER, { group: onlyFrom(['core', 'util', 'config']), message: 'telemetry (logs, metrics) sits below the modules that log: it imports only core, util and config' }],
  config: LOWER,
  sql: [...LOWER, { group: ['**/policy/**', '**/masking/**'], message: 'SQL analysis is below policy and masking: it imports only core, util and the grammars' }],
  policy: [...LOWER, { group: ['**/masking/**'], message: CYCLE }],
  masking: [...LOWER, { group: ['**/policy/**'], message: CYCLE }, { group: ['**/sql/*/**'], message: 'masking reads SQL through a SqlDialect (src/sql/dialect.ts), never a grammar\'s own modules' }],
  identity: LOWER, vault: LOWER, audit: LOWER, recorder: LOWER, reviews: LOWER, notify: LOWER, connections: LOWER,
  store: [...LOWER, { group: ['**/audit/**', '**/recorder/**', '**/reviews/**', '**/identity/**', '**/vault/**', '**/connections/**'], message: 'the store imports nothing of the modules that use it; put shared types in store/repositories/ or core/' }],
  pipeline: [ADAPTERS, { group: ['**/runtime/**'], message: 'the pipeline is wired by the runtime; it does not import it' }],
  api: [{ group: ['**/protocols/**', '**/cli/**'], message: 'the admin API reaches sessions through the pipeline and the store, never an adapter or the CLI' }],
  cli: [],
  runtime: [{ group: ['**/cli/**'], message: 'the runtime is started by the CLI; it does not import it' }],
};

// A Permit (src/pipeline/permit.ts) is what forwarding upstream takes; only the gate and the
// review runner mint one. A cast anywhere else would forge it.
const FORGED_PERMIT = {
  selector: ":matches(TSAsExpression, TSTypeAssertion) TSTypeReference[typeName.name=/^(Permit|Gated|GateDecision)$/]",
  message: 'only the gate (src/pipeline/gate.ts) and the review runner mint a Permit: get one from gate.decide() or runReview()',
};

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
      'no-restricted-syntax': ['error', FORGED_PERMIT],
    },
  },
  {
    files: ['src/pipeline/gate.ts', 'src/pipeline/review-runner.ts'],
    rules: { 'no-restricted-syntax': 'off' },
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
  // The layering of docs/architecture.md, one no-restricted-imports per folder (a later
  // config's setting of a rule replaces an earlier one's, so each folder's list is whole).
  ...Object.entries(LAYERS).map(([folder, own]) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { paths: folder === 'store' ? [] : STORE_PATHS, patterns: [...(folder === 'store' ? [] : STORE_PATTERNS), ...own] }],
    },
  })),
  // No protocol adapter imports another: what they share belongs in the pipeline.
  ...PROTOCOLS.map((p) => ({
    files: [`src/protocols/${p}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { paths: STORE_PATHS, patterns: [...STORE_PATTERNS, { group: ['**/api/**', '**/cli/**', '**/runtime/**'], message: 'an adapter gets what it needs through AdapterContext, never from the API, the CLI or the runtime' }, { group: PROTOCOLS.filter((o) => o !== p).flatMap((o) => [`**/protocols/${o}/**`, `../${o}/**`, `../../${o}/**`]), message: 'a protocol adapter must not import another; move shared code to the pipeline' }] }],
    },
  })),
);
