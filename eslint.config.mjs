// Lint holds the shape: typescript-eslint's recommended rules, prettier for layout (eslint-config-prettier
// turns off the rules it owns), and the layering as import rules, so a layer that reaches into another
// fails CI instead of relying on comments.
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Layering: who may import whom (`target` may not import `from`, `except` subfolders excepted). */
const layers = [
  {
    target: './src/engage',
    from: './src',
    except: ['./engage'],
    message: 'src/engage/ is the Engage API: it imports nothing of the gateway.',
  },
  {
    target: './src/loaders',
    from: './src',
    except: ['./loaders', './engage'],
    message:
      'Loaders depend on src/engage alone (they sit below resolvers): move a shared type to src/loaders or src/engage.',
  },
  {
    target: './src/emulator',
    from: './src',
    except: ['./emulator', './engage/types.ts', './engage/vocabulary.ts', './config.ts'],
    message: 'The emulator imports nothing of the gateway but the Engage record types, vocabulary and config.',
  },
  {
    target: ['./src/!(emulator)/**/*', './src/*.ts', './test/**/*', './bench/**/*', './examples/**/*'],
    from: './src/emulator',
    except: ['./index.ts'],
    message: "Use the emulator's public API (src/emulator/index.ts), not its internals.",
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      '.bench-build/',
      'coverage/',
      'src/generated/',
      'examples/*/dist/',
      'examples/*/src/gql/',
      'test-artifacts/',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: layers }],
      'import-x/no-cycle': ['error', { maxDepth: 10, ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: { globals: { module: 'writable', require: 'readonly', __dirname: 'readonly' } },
  },
  prettier,
);
