import { register } from 'node:module';

register('./esbuild-hooks.js', import.meta.url);
