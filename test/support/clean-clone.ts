import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

// A clean clone of the repository, as `git clone` would make it of this
// working tree: the files git tracks (and new ones it does not ignore), so
// no dist/. Its node_modules is a copy of the repository's made of hard
// links, so that the installed packages are there without a network (npm
// finds them up to date and only runs the project's own scripts); npm's
// record of them is a copy of its own, never a link to the repository's.

export const REPO = resolve(import.meta.dirname, '../..');

export function cleanClone(clone: string): string {
  const tracked = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' })
    .split('\0')
    .filter((path) => path !== '' && path !== 'node_modules' && existsSync(join(REPO, path)));
  for (const path of tracked) {
    mkdirSync(dirname(join(clone, path)), { recursive: true });
    copyFileSync(join(REPO, path), join(clone, path));
  }
  const modules = join(REPO, 'node_modules');
  const linked = spawnSync('cp', ['-al', `${modules}/.`, join(clone, 'node_modules')]);
  // on another file system than the repository's: a real copy
  if (linked.status !== 0) cpSync(modules, join(clone, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  rmSync(join(clone, 'node_modules', '.package-lock.json'), { force: true });
  copyFileSync(join(modules, '.package-lock.json'), join(clone, 'node_modules', '.package-lock.json'));
  return clone;
}

// Runs npm offline in `cwd`, without the settings an npm that started the
// tests hands down; throws with its output unless it succeeds.
export function npm(cwd: string, args: string[], timeout = 180_000): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.toLowerCase().startsWith('npm_')) delete env[name];
  const run = spawnSync('npm', [...args, '--offline', '--no-audit', '--no-fund'], { cwd, env, encoding: 'utf8', timeout });
  if (run.status !== 0) throw new Error(`npm ${args.join(' ')} exited with ${run.status}:\n${run.stdout}${run.stderr}`);
  return run;
}
