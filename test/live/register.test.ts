/**
 * `npm run webhook:register` (src/live/register.ts) as an operator runs it: the production script
 * on a pruned install.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

const readJson = <T>(file: string): T => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as T;

describe('the production script', () => {
  // README "Running in production" prunes the devDependencies, tsx with them: `webhook:register`
  // then fails with "tsx: not found" (exit 127).
  it('runs the compiled register.js with node, which a pruned install still has', () => {
    const { scripts, devDependencies } = readJson<{
      scripts: Record<string, string>;
      devDependencies: Record<string, string>;
    }>('package.json');
    const script = scripts['webhook:register:prod'];
    expect(script).toMatch(/^(?:exec )?node\s/);
    const words = script.split(/\s+/);
    expect(words.some((word) => word in devDependencies)).toBe(false);
    // The file it runs is what `npm run build` emits for src/live/register.ts.
    const build = readJson<{ compilerOptions: { outDir: string; rootDir: string }; include: string[] }>(
      'tsconfig.build.json',
    );
    const emitted = words.find((word) => word.endsWith('.js'))!;
    const source = path
      .join(build.compilerOptions.rootDir, path.relative(build.compilerOptions.outDir, emitted))
      .replace(/\.js$/, '.ts');
    expect(source).toBe(path.join('src', 'live', 'register.ts'));
    expect(existsSync(path.join(ROOT, source))).toBe(true);
    expect(build.include).toContain('src');
  });
});
