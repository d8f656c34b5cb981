/**
 * The bench's build runtime starts its children as `npm run start:prod` starts the gateway: the
 * same variables and node flags, read from package.json, so that a memory figure measured there is
 * the production gateway's.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { productionStart } from '../../bench/lib/processes';

const scripts = (
  JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;

it('reads the variables and node flags of start:prod', () => {
  const start = productionStart();
  expect(start.env.NODE_ENV).toBe('production');
  // The settings that bound the production gateway's RSS (bench/README.md, "Memory").
  expect(start.env.MALLOC_ARENA_MAX).toBe('2');
  expect(start.nodeFlags).toContain('--max-semi-space-size=8');
  // Per-operation objects must not be allocated straight into the old generation ("Where the CPU goes").
  expect(start.nodeFlags).toContain('--no-allocation-site-pretenuring');
});

it('parses NAME=value words, then node, its flags and the script', () => {
  expect(productionStart('A=1 B_2=x=y node --one --two=2 dist/main.js')).toEqual({
    env: { A: '1', B_2: 'x=y' },
    nodeFlags: ['--one', '--two=2'],
  });
  expect(productionStart('node dist/main.js')).toEqual({ env: {}, nodeFlags: [] });
  expect(productionStart('A=1 exec node --one dist/main.js')).toEqual({ env: { A: '1' }, nodeFlags: ['--one'] });
});

it('refuses a start:prod it cannot follow, rather than measure something else', () => {
  expect(() => productionStart('NODE_ENV=production tsx src/main.ts')).toThrow(/does not run node/);
  expect(() => productionStart('node -r x dist/main.js')).toThrow(/not "NAME=value/);
  expect(() => productionStart('node --flag')).toThrow(/not "NAME=value/);
});

// npm runs a script under `sh -c` and relays SIGTERM to that shell only: without `exec`, node is a
// child of the shell, never gets the signal and keeps serving after npm exits (no graceful drain).
// test/edge/npm-start-signal.test.ts checks `npm start` end to end.
it('starts the gateway with exec, so that a signal to npm reaches it', () => {
  expect(scripts['start:prod']).toMatch(/^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*exec node\s/);
  expect(scripts.start).toMatch(/^exec tsx\s/);
});
