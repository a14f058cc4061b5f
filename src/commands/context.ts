import type { Writable } from 'node:stream';
import type { Output } from '../terminal/messages.js';

// What the maintenance commands (ls, show, clear, gc, stats) get from the CLI.
export interface CacheCommandContext {
  dir: string;
  now: number;
  env: NodeJS.ProcessEnv;
  // the user's data goes here (tables, JSON)
  stdout: Writable & { isTTY?: boolean; columns?: number };
  output: Output;
  colour: boolean;
}
