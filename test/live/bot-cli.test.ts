/**
 * `npm run example:bot -- --help` and a mistyped option, as a new user tries them: the usage on
 * stdout (exit 0), or the problem and the usage on stderr (exit 2), never a stack trace; neither
 * connects to a gateway.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

function bot(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'examples/bot.ts', ...args],
      // Nothing listens there: a bot that tried to connect would fail, not hang.
      { cwd: ROOT, timeout: 20_000, env: { ...process.env, NODE_OPTIONS: '' } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

it('--help prints the usage and exits 0', async () => {
  const { code, stdout, stderr } = await bot(['--help']);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(stdout).toMatch(/--url/);
  expect(stdout).toMatch(/--token/);
  expect(stdout).toMatch(/--human-category/);
  expect(stdout).toMatch(/--cursor-file/);
});

it('an unknown option is said with the usage, exit 2, without a stack trace', async () => {
  const { code, stdout, stderr } = await bot(['--tokne', 'x']);
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr).toMatch(/--tokne/);
  expect(stderr).toMatch(/--token/);
  expect(stderr).not.toMatch(/\n\s+at /);
});
