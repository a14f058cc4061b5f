// Module hooks for bench/anatomy/rebuild-with-maps.js: registered (node
// --import) when it runs the project's own scripts/build.js in a scratch
// copy, they hand the build script bench/anatomy/esbuild-with-maps.js
// whenever it imports esbuild.
const WRAPPER = new URL('./esbuild-with-maps.js', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'esbuild' && context.parentURL !== WRAPPER) return { url: WRAPPER, shortCircuit: true };
  return nextResolve(specifier, context);
}
