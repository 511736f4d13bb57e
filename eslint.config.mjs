// ESLint: the rules that guard what the type checker cannot. Formatting is Prettier's job.
// Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O modules and no
// activity implementations there (as in temporalio/samples-typescript's eslint config).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.venv/**', 'test-results/**', 'bench/results/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // tsc's noUnusedLocals covers these; `_`-prefixed parameters are deliberate.
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'off',
    },
  },
  {
    // Tests read SDK and AWS replies loosely and load modules fresh.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/workflows/**/*.ts', 'src/domain/**/*.ts', 'src/api.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: nodeBuiltins.map((name) => ({ name, message: 'workflow code runs in the Temporal sandbox: no Node built-ins' })),
        patterns: [
          { group: ['@temporalio/worker', '@temporalio/client', '@temporalio/activity'], message: 'workflow code imports @temporalio/workflow (and @temporalio/common) only' },
          { group: ['**/activities/*', '**/activities/**', '!**/activities/**/types'], message: 'workflow code may import activity types only (import type …)', allowTypeImports: true },
          { group: ['pg', 'mysql2', 'mysql2/*', '@aws-sdk/*', 'yaml'], message: 'no I/O libraries in workflow code' },
        ],
      }],
    },
  },
);
