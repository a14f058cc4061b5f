import * as esbuild from 'esbuild';

// esbuild as scripts/build.js sees it when bench/anatomy/rebuild-with-maps.js
// runs it: every build also writes an external source map, which leaves the
// emitted code as it is, so that profile frames in dist/ can be attributed.
export * from 'esbuild';

export function build(options) {
  return esbuild.build({ ...options, sourcemap: 'external' });
}

export default { ...esbuild, build };
