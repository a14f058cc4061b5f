import type { Writable } from 'node:stream';
import type { Settings } from '../setup/settings.js';
import { SETTING_NAMES } from '../setup/settings.js';
import { redactCredentials } from '../core/redact.js';
import { displayWidth, escapeControls, padToWidth } from '../core/text.js';

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
    return escapeControls(name === 'remote' ? redactCredentials(value) : value);
  };
  const rows = SETTING_NAMES.map((name) => [name, shown(name), escapeControls(current[name].source)] as const);
  // Each column as wide as its widest cell, whatever the names and values:
  // a path or a URL longer than any fixed width would push its source out
  // of line.
  const nameWidth = Math.max(...rows.map(([name]) => name.length));
  const valueWidth = Math.max(...rows.map(([, value]) => displayWidth(value)));
  for (const [name, value, source] of rows) stdout.write(`${name.padEnd(nameWidth)}  ${padToWidth(value, valueWidth)}  ${source}\n`);
  return 0;
}
