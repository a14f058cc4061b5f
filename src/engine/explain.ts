import { formatInstant } from '../policy/clock.js';
import { displayHash } from '../core/hash.js';
import { blobsOf } from '../schema/manifest.js';
import { formatSize } from '../core/size.js';
import { escapeControls } from '../core/text.js';
import { formatAge } from '../policy/duration.js';
import { staleToServe, type Decision } from './decide.js';
import type { Call } from './call.js';
import type { KeyMaterial } from '../schema/key.js';
import { judgePolicy } from '../policy/policy.js';
import { describeFingerprint, describeFingerprintChange } from '../sources/registry.js';

// --explain: why a call would replay or run. Every part of the key, every
// policy with its verdict and exact expiry, every watched source with its
// recorded and current fingerprint, then the verdict. Environment values
// appear only as the hashes the key holds.
export function explainDecision(plan: Call, decision: Decision): string[] {
  const now = plan.clock();
  const lines = [`key ${plan.key}`, ...materialLines(plan.material)];
  const entry = decision.fresh ? decision.manifest : decision.entry;
  if (entry === null) {
    lines.push('entry: none usable');
  } else {
    // the size ls, show and -v give: every blob of the entry
    const bytes = blobsOf(entry).reduce((n, b) => n + b.size, 0);
    lines.push(
      `entry: recorded ${formatInstant(entry.recordedAt, plan.zone)} ` +
        `(${entry.recordedAt > now ? 'after now' : `${formatAge(now - entry.recordedAt)} ago`}), ` +
        `exit ${entry.exitCode}, ${formatSize(bytes)}, ${count(entry.outputs.length, 'output path')}`,
    );
    for (const policy of plan.policies) {
      const v = judgePolicy(policy, entry.recordedAt, now, plan.zone);
      const until = v.expiresAt === null ? null : formatInstant(v.expiresAt, plan.zone);
      const verdict = v.fresh
        ? until === null
          ? 'fresh forever'
          : `fresh until ${until}`
        : entry.recordedAt > now
          ? 'stale (recorded after now)'
          : `stale since ${until}`;
      lines.push(`policy ${policy.spec}: ${verdict}`);
    }
  }
  const checks = decision.checks;
  for (const source of plan.watch.sources) {
    const label = `watch ${escapeControls(source.label)}`;
    const check = checks?.find((c) => c.source === source);
    if (!check) {
      lines.push(`${label}: not checked (${entry === null ? 'no entry' : 'the policies already call for a run'})`);
      continue;
    }
    const recorded = check.recorded ? describeFingerprint(check.recorded) : 'not watched then';
    const current = check.current.ok ? describeFingerprint(check.current.fingerprint) : `could not be checked (${check.current.detail})`;
    const what = check.unchanged || !check.recorded || !check.current.ok ? null : describeFingerprintChange(check.recorded, check.current.fingerprint);
    lines.push(`${label}: recorded ${recorded}; now ${current}: ${check.unchanged ? 'unchanged' : what === null ? 'changed' : `changed (${what})`}`);
  }
  const stale = staleToServe(decision, plan.force ? null : plan.staleWhileRevalidateMs, plan, now);
  if (plan.staleWhileRevalidateMs !== null && entry !== null && !decision.fresh) {
    lines.push(
      `stale-while-revalidate ${formatAge(plan.staleWhileRevalidateMs)}: ` +
        (stale === null ? 'outside the window' : `${stale.why}, inside the window`),
    );
  }
  lines.push(
    decision.fresh
      ? 'verdict: replay the entry'
      : stale !== null
        ? `verdict: replay the stale entry and refresh it in the background (${decision.reason})`
        : `verdict: run the command (${decision.reason})`,
  );
  return lines;
}

// The parts of the key, a line each; environment values only as hashes.
function materialLines(m: KeyMaterial): string[] {
  if (m.kind === 'function') {
    return [
      `  function: ${escapeControls(m.name)}`,
      `  source: hash ${displayHash(m.source)}`,
      `  arguments: hash ${displayHash(m.args)}`,
      `  namespace: ${m.namespace === null ? '(none)' : escapeControls(JSON.stringify(m.namespace))}`,
    ];
  }
  if (m.kind === 'fetch') {
    return [
      `  fetch: ${escapeControls(m.source)}`,
      `  into: ${m.dest === null ? '(standard output)' : escapeControls(m.dest)}`,
      `  key text: ${m.extra === null ? '(none)' : escapeControls(JSON.stringify(m.extra))}`,
    ];
  }
  return [
    `  command: ${escapeControls(JSON.stringify(m.argv))}${m.shell ? ' (through /bin/sh -c)' : ''}`,
    `  working directory: ${m.cwd === null ? '(not part of the key: --no-cwd)' : escapeControls(m.cwd)}`,
    ...(m.env.length === 0
      ? ['  environment: (none)']
      : m.env.map(([name, hash]) => `  environment: ${name} ${hash === null ? '(unset)' : `(value hash ${displayHash(hash)})`}`)),
    `  stdin: ${m.stdin === null ? '(not part of the key)' : `hash ${displayHash(m.stdin)}`}`,
    `  outputs: ${m.outputs.length === 0 ? '(none)' : m.outputs.join(', ')}`,
    `  key text: ${m.extra === null ? '(none)' : escapeControls(JSON.stringify(m.extra))}`,
  ];
}

// "1 output path", "2 output paths"
function count(n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`;
}
