import type { Writable } from 'node:stream';
import type { Settings } from '../cli/settings.js';
import { SETTING_NAMES } from '../cli/settings.js';
import { redactCredentials } from '../redact.js';

// dcache config: the settings and where each came from.
export function config(stdout: Writable, current: Settings, json: boolean): number {
  if (json) {
    const remote = current.remote.value === null ? null : redactCredentials(current.remote.value);
    const settings = { ...current, remote: { ...current.remote, value: remote } };
    stdout.write(`${JSON.stringify({ version: 1, settings }, null, 2)}\n`);
    return 0;
  }
  const shown = (name: (typeof SETTING_NAMES)[number]) => {
    const value = current[name].value;
    if (value === null) return name === 'tz' ? '(TZ, or the system zone)' : '(none)';
    if (Array.isArray(value)) return value.length > 0 ? value.join(', ') : 'daily';
    return name === 'remote' ? redactCredentials(value) : value;
  };
  for (const name of SETTING_NAMES) stdout.write(`${name.padEnd(8)} ${shown(name).padEnd(40)} ${current[name].source}\n`);
  return 0;
}
