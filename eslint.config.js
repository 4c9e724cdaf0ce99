import path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const tsconfigRootDir = path.dirname(fileURLToPath(import.meta.url));

const deterministic =
  'Workflow code must be deterministic and runs in a sandbox without Node built-ins: do I/O in an activity (activities/) and call it with proxyActivities.';
const nodeBuiltins = ['fs', 'path', 'child_process', 'crypto', 'os', 'net', 'http', 'https'];

/**
 * Layers import only downward (README, Layout): bin/ → api/, worker/ → workflows/, activities/,
 * monitoring/, conversation/ → runtime/ → registry/ → lib/. Each folder names the folders above it.
 */
const above = {
  lib: ['registry', 'runtime', 'activities', 'workflows', 'monitoring', 'conversation', 'api', 'worker', 'bin'],
  registry: ['runtime', 'activities', 'workflows', 'monitoring', 'conversation', 'api', 'worker', 'bin'],
  runtime: ['activities', 'workflows', 'monitoring', 'conversation', 'api', 'worker', 'bin'],
  activities: ['workflows', 'monitoring', 'conversation', 'api', 'worker', 'bin'],
  monitoring: ['activities', 'workflows', 'conversation', 'api', 'worker', 'bin'],
  conversation: ['activities', 'workflows', 'monitoring', 'api', 'worker', 'bin'],
  workflows: ['runtime', 'registry', 'monitoring', 'conversation', 'api', 'worker', 'bin'],
  api: ['worker', 'bin'],
  worker: ['api', 'bin'],
  bin: [],
  // The CLI is a client of the API, like the console: it knows the platform through its HTTP API only.
  cli: ['registry', 'runtime', 'activities', 'workflows', 'monitoring', 'conversation', 'api', 'worker', 'bin'],
};
// registry/ is the only door to the database (and migrations/, frozen in time): a query anywhere else is a repository function waiting to be written.
const onlyRegistry =
  'Query the database only in registry/: write (or reuse) a repository function there that takes the db or a transaction first.';
const queryPaths = [{ name: 'kysely', importNames: ['sql'], message: onlyRegistry }];
const querySyntax = [
  {
    selector:
      'CallExpression[callee.property.name=/^(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto|selectNoFrom)$/]',
    message: onlyRegistry,
  },
  { selector: "TaggedTemplateExpression[tag.name='sql']", message: onlyRegistry },
];

const layerPatterns = (folder) => [
  {
    // The workflow's messages (updates, signals, queries) are the wire contract every client shares.
    group: [
      ...above[folder].flatMap((up) => [`../${up}/*`, `../../${up}/*`, `../../../${up}/*`]),
      '!**/workflows/messages.js',
    ],
    message: `${folder}/ may not import from the layers above it (${above[folder].join(', ')}): layers import only downward (README, Layout).`,
  },
];

export default defineConfig(
  // Bots are user scripts in any language; the rest is generated or local state.
  globalIgnores([
    'dist/',
    'node_modules/',
    '.tools/',
    '.data/',
    'logs/',
    'bots/',
    'coverage/',
    'console/src/api/schema.d.ts',
  ]),

  js.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: globals.node },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },

  {
    files: ['**/*.ts', '**/*.tsx'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir } },
    rules: {
      // What we care about: promises that are dropped or passed where a plain value is expected.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],

      // Values typed any leak through JSON, pg rows and SDK boundaries; worth seeing, not worth failing CI.
      '@typescript-eslint/no-unsafe-assignment': 'warn',
      '@typescript-eslint/no-unsafe-member-access': 'warn',
      '@typescript-eslint/no-unsafe-call': 'warn',
      '@typescript-eslint/no-unsafe-return': 'warn',
      '@typescript-eslint/no-unsafe-argument': 'warn',

      // Stylistic: an async method that implements a Promise-returning interface need not await;
      // a redundant assertion changes nothing at run time.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },

  ...Object.keys(above)
    .filter((folder) => folder !== 'workflows')
    .map((folder) => ({
      files: [`${folder}/**`],
      rules: {
        'no-restricted-imports': [
          'error',
          { paths: folder === 'registry' ? [] : queryPaths, patterns: layerPatterns(folder) },
        ],
        ...(folder === 'registry' ? {} : { 'no-restricted-syntax': ['error', ...querySyntax] }),
      },
    })),

  // api/ in rooms: routes use views and middleware; nothing imports a route but the app that mounts it.
  ...[
    {
      files: ['api/routes/**'],
      group: ['./*'],
      message:
        'A route imports views and middleware, never another route: put what two routes share in api/views/ or api/middleware/.',
    },
    {
      files: ['api/views/**', 'api/middleware/**', 'api/auth/**'],
      group: ['../routes/*'],
      message: 'Views, middleware and auth never import a route: the route imports them.',
    },
  ].map(({ files, group, message }) => ({
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: queryPaths, patterns: [...layerPatterns('api'), { group, message }] },
      ],
    },
  })),

  {
    // The console runs in the browser and knows the platform only through its API (the types generated from its OpenAPI document).
    files: ['console/src/**'],
    languageOptions: { globals: globals.browser },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../../*', '!../../api/*'],
              message: 'The console reaches the platform only through its API: use console/src/api/client.ts.',
            },
            { group: ['node:*'], message: 'The console runs in the browser.' },
          ],
        },
      ],
    },
  },

  {
    // The chat reaches the API through one typed client (conversation/fleet-api.ts): nothing here needs a rule switched off.
    files: ['conversation/**'],
    linterOptions: { noInlineConfig: true },
  },

  {
    files: ['workflows/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins.map((name) => ({ name, message: deterministic })), ...queryPaths],
          patterns: [
            { group: ['node:*', ...nodeBuiltins.map((name) => `${name}/*`)], message: deterministic },
            ...layerPatterns('workflows'),
          ],
        },
      ],
    },
  },

  {
    // Migrations are frozen in time (Kysely<any> by design), and so is the migrator that runs them; tests poke at JSON bodies.
    files: ['migrations/**', 'registry/migrate.ts', 'test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
);
