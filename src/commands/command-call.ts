import type { Readable } from 'node:stream';
import type { Call } from '../engine/call.js';
import { prepareCall, type CallContext, type CallOptions } from '../setup/prepare-call.js';
import { copyStdin, hashEnvSpecs, type StdinCopy } from '../engine/key-inputs.js';
import type { Result } from '../core/errors.js';
import { fail, ok } from '../core/errors.js';
import { normalizeOutputPath } from '../process/output-files.js';
import { buildKeyMaterial, deriveKey, type CommandMaterial } from '../schema/key.js';
import type { LocalStore } from '../store/local/local-store.js';

// A call of the engine for a command (dcache run, status, clear --): the
// options checked, standard input copied (--stdin), the key derived from
// the command line.

export interface CommandCall extends Call {
  material: CommandMaterial;
  store: LocalStore;
  command: string[];
  // the command is one string for /bin/sh -c
  shell: boolean;
  stdin: StdinCopy | null;
}

// The options of a command's call: those of every call, and what makes a
// command's key. (The CLI's table of run options makes them.)
export interface CommandOptions extends CallOptions {
  output: string[];
  env: string[];
  key: string | undefined;
  shell: boolean;
  stdin: boolean;
  cwd: boolean;
}

export interface CommandInputs extends CallContext {
  command: string[];
  options: CommandOptions;
  stdin: () => Readable;
}

// Checks every option before anything runs, then derives the key. Returns
// the first usage problem as a message naming the bad value.
export async function makeCommandCall(inputs: CommandInputs): Promise<Result<CommandCall, string>> {
  const { options, command } = inputs;
  const base = await prepareCall(options, inputs);
  if (!base.ok) return base;
  if (options.shell && command.length !== 1) {
    return fail(`--shell takes the command as one string, e.g. --shell -- 'sort data.csv | uniq -c'; got ${command.length} arguments`);
  }
  const outputs: string[] = [];
  for (const given of options.output) {
    const path = normalizeOutputPath(inputs.cwd, given);
    if (!path.ok) return path;
    outputs.push(path.value);
  }
  const env = await hashEnvSpecs(options.env, inputs.env);
  if (!env.ok) return env;
  if (options.key !== undefined && options.key === '') return fail("--key '' is empty; give the text to mix into the key");
  const stdin = options.stdin ? await copyStdin(inputs.stdin()) : null;
  const material = buildKeyMaterial({
    argv: command,
    shell: options.shell,
    cwd: options.cwd ? inputs.cwd : null,
    env: env.value,
    stdin: stdin?.hash ?? null,
    outputs: [...new Set(outputs)].sort(),
    extra: options.key ?? null,
  });
  return ok({ ...base.value, key: deriveKey(material), material, command, shell: options.shell, stdin });
}
