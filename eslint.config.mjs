// One lint config for the whole workspace. The module-boundary rule is what keeps the
// dependency graph honest: apps may use libs, libs may use libs, nothing may use an app.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import * as jsoncParser from 'jsonc-eslint-parser';

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.data/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:testing'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:testing'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:testing'] },
            { sourceTag: 'type:bench', onlyDependOnLibsWithTags: ['type:lib', 'type:testing'] },
            // The deploy tests start the real services to read their metrics.
            { sourceTag: 'type:deploy', onlyDependOnLibsWithTags: ['type:testing'] },
            // The `npm start` test starts the suite as a user does.
            { sourceTag: 'type:tooling', onlyDependOnLibsWithTags: ['type:testing'] },
          ],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Tests read JSON answers whose shape is what they assert; typing each one adds noise.
    files: ['**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // k6 scripts run in k6's runtime, whose globals @types/k6 declares (tsc checks them).
    files: ['perf/k6/**/*.js'],
    languageOptions: { globals: { __ENV: 'readonly', __VU: 'readonly', __ITER: 'readonly', open: 'readonly' } },
  },
  {
    // Plain scripts (npm start, npm test, CI helpers): the rules that catch real mistakes.
    files: ['**/*.{js,mjs}'],
    rules: { 'no-unused-vars': ['error', { argsIgnorePattern: '^_' }], 'prefer-const': 'error', eqeqeq: 'error' },
  },
  {
    // Every package declares what its code imports, and nothing it does not: a
    // dependency no file uses is an error, as is an import the package.json lacks.
    files: ['**/package.json'],
    languageOptions: { parser: jsoncParser },
    rules: {
      '@nx/dependency-checks': [
        'error',
        {
          ignoredFiles: ['{projectRoot}/test/**', '{projectRoot}/eslint.config.{js,cjs,mjs}'],
          checkObsoleteDependencies: true,
          checkVersionMismatches: false,
          includeTransitiveDependencies: false,
        },
      ],
    },
  },
];
