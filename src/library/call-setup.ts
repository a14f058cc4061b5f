import { inOptionWords } from './options.js';
import { homedir } from 'node:os';
import { processHost } from '../setup/process-host.js';
import { checkSettings, loadSettings } from '../setup/settings.js';
import { prepareCall, type CallBase, type CallOptions } from '../setup/prepare-call.js';
import type { Reporter } from '../ports/reporter.js';
import type { LocalStore } from '../store/local/local-store.js';
import type { CheckedOptions } from './options.js';

// The options of one call of a cached function: those given to cached(),
// then the settings of the config files and the environment, as `dcache
// run` reads them (read at each call, as each run of the CLI reads them).
export async function prepareFunctionCall(options: CheckedOptions, reporter: Reporter): Promise<{ base: CallBase & { store: LocalStore }; namespace: string | null }> {
  const cwd = process.cwd();
  const home = homedir();
  const env = process.env;
  const loaded = loadSettings(cwd, env, home);
  const { settings, problems } = await checkSettings(loaded.settings);
  for (const problem of [...loaded.problems, ...problems]) reporter.warnOnce(`setting:${problem}`, `${problem}; ignored`);
  const given: CallOptions = {
    policy: options.policy ?? settings.policy.value,
    tz: options.tz ?? settings.tz.value ?? undefined,
    dir: options.dir ?? (env.DCACHE_DIR ? undefined : settings.dir.value),
    watch: options.watch,
    watchCmd: options.watchCmd,
    watchTimeout: undefined,
    remote: options.remote ?? settings.remote.value ?? undefined,
    remoteReadOnly: false,
    remoteTimeout: undefined,
    maxSize: settings.maxSize.value,
    maxEntrySize: settings.maxEntrySize.value,
    signingKeyFile: settings.signingKeyFile.value,
    force: false,
    cacheFailures: options.cacheErrors,
    staleIfError: false,
    staleWhileRevalidate: options.staleWhileRevalidate ?? settings.staleWhileRevalidate.value ?? undefined,
    explain: false,
  };
  const prepared = await prepareCall(given, { cwd, home, env, nowText: options.now ? undefined : env.DCACHE_NOW, host: processHost() });
  // all that cached() could not check: a cron expression's fields, DCACHE_NOW
  if (!prepared.ok) throw new TypeError(`cached(${options.name}): ${inOptionWords(prepared.error)}`);
  const base = prepared.value;
  if (options.now) {
    const now = options.now;
    base.clock = () => Number(now());
  }
  return { base, namespace: options.namespace ?? settings.key.value };
}

