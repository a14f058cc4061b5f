import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The node binary of a Node line users run (22, 24), from the npm
// registry's `node` package, installed once into a scratch folder that
// npm run test:node-lines (scripts/node-lines.js) shares.
export function nodeOfLine(line) {
  if (!/^\d+$/.test(String(line))) throw new Error(`'${line}' is not a Node major version`);
  const prefix = join(tmpdir(), 'dcache-node-lines', String(line));
  const node = join(prefix, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node)) {
    mkdirSync(prefix, { recursive: true });
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', prefix, `node@${line}`], { stdio: 'inherit' });
    if (install.status !== 0 || !existsSync(node)) throw new Error(`could not install node@${line} from the npm registry`);
  }
  return node;
}
