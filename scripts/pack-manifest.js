// Around `npm pack` (and publish): the `prepare` script builds dist/ in a
// clone, on `npm install`, but a package whose manifest names one is shown
// to its users by npm as having an install script to approve, though npm
// does not run it there. So `prepack` builds dist/ and takes `prepare` out of
// package.json (npm then does not run it a second time), and `postpack`
// puts package.json back as it was: `node scripts/pack-manifest.js strip`,
// then `restore`. A pack that failed between the two leaves the original
// beside it, which the next `strip` or `restore` puts back first.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const manifest = new URL('../package.json', import.meta.url);
const saved = new URL('../package.json.prepack', import.meta.url);

function restore() {
  if (existsSync(saved)) renameSync(saved, manifest);
}

const step = process.argv[2];
if (step === 'strip') {
  restore();
  const text = readFileSync(manifest, 'utf8');
  const pkg = JSON.parse(text);
  delete pkg.scripts.prepare;
  writeFileSync(saved, text);
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
} else if (step === 'restore') {
  restore();
} else {
  throw new Error(`usage: node scripts/pack-manifest.js strip|restore (not ${step})`);
}
