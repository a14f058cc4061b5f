import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// The real servers and tools the tests use, and the Debian packages that
// bring them. On a machine without one, the set-up installs it (as root,
// with apt-get); without root, it stops with the command to run. A test
// never skips for want of a tool: a green run means every test ran.
const TOOLS: Array<{ what: string; found: () => boolean; pkg: string }> = [
  { what: 'redis-server (the Redis remote)', found: () => onPath('redis-server'), pkg: 'redis-server' },
  { what: 'redis-cli (the Redis Cluster)', found: () => onPath('redis-cli'), pkg: 'redis-tools' },
  { what: 'nginx (watched URLs, the HTTP remote)', found: () => onPath('nginx') || existsSync('/usr/sbin/nginx'), pkg: 'nginx-light' },
  { what: 'GNU time (peak memory)', found: () => existsSync('/usr/bin/time'), pkg: 'time' },
  { what: 'script (a terminal for ls and stats)', found: () => onPath('script'), pkg: 'bsdutils' },
  { what: 'make (the Makefile recipes)', found: () => onPath('make'), pkg: 'make' },
  { what: 'zsh (its completion)', found: () => onPath('zsh'), pkg: 'zsh' },
  { what: 'fish (its completion)', found: () => onPath('fish'), pkg: 'fish' },
  { what: 'bash-completion (completing the wrapped command)', found: () => existsSync('/usr/share/bash-completion/bash_completion'), pkg: 'bash-completion' },
];

function onPath(name: string): boolean {
  return spawnSync('/bin/sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export default function setup(): void {
  installDebianPackages();
  installMoto();
}

// moto_server, the S3 API server of the S3 tests, comes with Python's moto
// package (pip), not with Debian.
function installMoto(): void {
  if (onPath('moto_server')) return;
  const command = "python3 -m pip install 'moto[server]'";
  if (!onPath('python3')) throw new Error(`the S3 tests need moto_server; install Python 3, then: ${command}`);
  console.log('test set-up: installing moto_server (the S3 API server) with pip');
  const result = spawnSync('python3', ['-m', 'pip', 'install', '--quiet', 'moto[server]'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (result.status !== 0 || !onPath('moto_server')) {
    throw new Error(`the S3 tests need moto_server, and \`${command}\` failed:\n${result.stderr}`);
  }
}

function installDebianPackages(): void {
  const missing = TOOLS.filter((tool) => !tool.found());
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((tool) => tool.pkg))];
  const command = `apt-get update && apt-get install -y ${packages.join(' ')}`;
  const what = missing.map((tool) => tool.what).join(', ');
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    throw new Error(`the tests need ${what}; install them first, e.g. as root: ${command}`);
  }
  console.log(`test set-up: installing ${packages.join(', ')} for ${what}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...packages]]) {
    const result = spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed:\n${result.stderr}`);
  }
  const still = TOOLS.filter((tool) => !tool.found());
  if (still.length > 0) throw new Error(`still missing after installing: ${still.map((tool) => tool.what).join(', ')}`);
}
