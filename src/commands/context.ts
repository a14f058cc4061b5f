import type { Writable } from 'node:stream';
import type { LocalStore } from '../store/local/local-store.js';
import type { Messages } from '../terminal/messages.js';

// What the maintenance commands (ls, show, clear, gc, stats) get from the CLI.
export interface CacheCommandContext {
  dir: string;
  // the cache in `dir`
  store: LocalStore;
  now: number;
  env: NodeJS.ProcessEnv;
  // the user's data goes here (tables, JSON)
  stdout: Writable & { isTTY?: boolean; columns?: number };
  messages: Messages;
  colour: boolean;
  // the size gc and every recording keep the cache under, and where it was set
  maxSize: { bytes: number; source: string };
}
