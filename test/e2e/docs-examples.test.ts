import { realpathSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { blockHolding, readDoc, type Doc } from '../support/docs.js';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

// The examples of dcache's output in the README and the guide, made by the
// real command: each test sets up what the example assumes, runs the
// example's command line as written, and compares what it prints with the
// page, line for line. Only what differs from one machine to the next is
// put back as the page has it: the working directory (/srv/reports), the
// keys made from it, a process id, a run's duration in milliseconds.

const README = readDoc('README.md');
const GUIDE = readDoc('docs/guide.md');

// An example: the command after `$ `, without its comment, and what follows it.
function example(doc: Doc, marker: string): { command: string[]; output: string[] } {
  const lines = blockHolding(doc, marker);
  const first = lines.findIndex((line) => line.startsWith('$ '));
  const words = lines[first]!.slice(2).replace(/\s+#.*$/, '').split(/\s+/);
  expect(words[0]).toBe('dcache');
  return { command: words.slice(1), output: lines.slice(first + 1) };
}

const at = (now: string, env: NodeJS.ProcessEnv = {}) => ({ env: { DCACHE_NOW: now, ...env } });

function script(box: Sandbox, name: string, body: string): void {
  writeFileSync(box.path(name), `#!/bin/sh\n${body}\n`);
  chmodSync(box.path(name), 0o755);
}

// What a run printed, with this machine's working directory and keys as
// the page shows them.
function asOnPage(text: string, box: Sandbox, keys: Array<[string, string]> = []): string[] {
  let out = plain(text).replaceAll(realpathSync(box.root), '/srv/reports');
  for (const [mine, theirs] of keys) out = out.replaceAll(mine, theirs);
  return out.trimEnd().split('\n');
}

function lsKeys(box: Sandbox): string[] {
  return (JSON.parse(box.dcache(['ls', '--json']).stdout.toString()) as { entries: Array<{ key: string }> }).entries.map((e) => e.key);
}

describe('the examples of the README and the guide, run', () => {
  it("-v on a hit, in the README's examples of dcache run", ({ box }) => {
    const lines = blockHolding(README, '# Why did it (not) run?');
    script(box, 'fetch.sh', 'echo rows');
    const command = lines[lines.indexOf('# Why did it (not) run?') + 1]!.split(' ');
    box.dcache(['run', '--', './fetch.sh'], at('2024-08-27T09:00:00'));
    const r = box.dcache(command.slice(1), at('2024-08-27T15:30:00'));
    expect(asOnPage(r.stderr, box)).toEqual([lines.at(-1)!.replace(/^# /, '')]);
  });

  it('status --explain', ({ box }) => {
    const { command, output } = example(GUIDE, '$ dcache status --explain');
    mkdirSync(box.path('data'));
    writeFileSync(box.path('data', 'input.csv'), 'id,name,region\n');
    script(box, 'build-report.sh', 'echo "report of $(wc -l < data/input.csv) rows"');
    const args = command.slice(command.indexOf('--tz'));
    box.dcache(['run', ...args], at('2024-08-27T06:12:40'));
    const r = box.dcache(command, at('2024-08-27T09:17:40'));
    expect(r.code).toBe(0);
    const [key] = lsKeys(box);
    expect(asOnPage(r.stdout.toString(), box, [[key!, output[0]!.slice('key '.length)]])).toEqual(output);
  });

  it('ls on an 80-column terminal', ({ box }) => {
    const { output } = example(GUIDE, '$ dcache ls          # on an 80-column terminal');
    script(box, 'fetch-customer-data.sh', 'head -c 1258291 /dev/zero | tr "\\0" x; echo "id,name" > out1.txt; echo "id,name" > out2.txt');
    const runs: Array<[string, string[]]> = [
      ['2024-08-27T09:00:00', ['-o', 'out1.txt']],
      ['2024-08-27T09:05:00', ['-o', 'out2.txt']],
      ['2024-08-27T10:00:00', ['--key', 'acme']],
      ['2024-08-27T10:20:00', ['--key', 'globex']],
    ];
    for (const [when, options] of runs) box.dcache(['run', ...options, '--', './fetch-customer-data.sh'], at(when));
    const r = box.shell(`script -qec 'stty cols 80; $DCACHE ls' /dev/null`, at('2024-08-27T12:00:00', { TERM: 'xterm' }));
    const shown = r.stdout.toString().replaceAll('\r\n', '\n');
    // the keys of this machine, in the order listed, for those of the page
    const keys = output.slice(1).map((line, n): [string, string] => [plain(shown).split('\n')[n + 1]!.split(' ')[0]!, line.split(' ')[0]!]);
    expect(asOnPage(shown, box, keys)).toEqual(output);
    for (const line of plain(shown).trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('show', ({ box }) => {
    const { command, output } = example(GUIDE, '$ dcache show ');
    script(box, 'fetch-customer-data.sh', 'head -c 1258291 /dev/zero | tr "\\0" x');
    const args = ['run', '-e', 'REGION', '--key', 'acme', '--', './fetch-customer-data.sh'];
    box.dcache(args, at('2024-08-27T09:00:00', { REGION: 'eu' }));
    box.dcache(args, at('2024-08-27T10:15:00', { REGION: 'eu' }));
    box.dcache(args, at('2024-08-27T11:40:00', { REGION: 'eu' }));
    const [key] = lsKeys(box);
    const theirs = output[0]!.split(/\s+/)[1]!;
    const r = box.dcache(['show', key!.slice(0, command[1]!.length)], at('2024-08-27T12:00:00'));
    expect(r.code).toBe(0);
    const ran = /ran \d+ ms/.exec(output.join('\n'))![0];
    expect(asOnPage(r.stdout.toString(), box, [[key!, theirs]]).map((line) => line.replace(/ran \d+ ms/, ran))).toEqual(output);
  });

  it('-v on a stale hit under --stale-while-revalidate', async ({ box }) => {
    const lines = blockHolding(GUIDE, 'dcache: stale hit: ');
    script(box, 'slow-report.sh', 'echo report');
    const args = ['run', '-v', '-p', 'daily', '--stale-while-revalidate', '1d', '--', './slow-report.sh'];
    box.dcache(args, at('2026-11-28T06:10:00'));
    const r = box.dcache(args, at('2026-11-29T03:00:00'));
    const pid = Number(/\(pid (\d+)\)/.exec(r.stderr)![1]);
    box.killAtCleanup(pid);
    const theirs = /\(pid (\d+)\)/.exec(lines.join('\n'))![1]!;
    expect(asOnPage(r.stderr, box).map((line) => line.replace(`(pid ${pid})`, `(pid ${theirs})`))).toEqual(lines);
    await waitUntil('the refresh has ended', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });

  it('a malformed s3:// source', ({ box }) => {
    const { command, output } = example(GUIDE, '$ dcache run -w s3://');
    script(box, 'fetch.sh', 'echo rows');
    const r = box.dcache(command);
    expect(r.code).toBe(125);
    expect(r.stdout.toString()).toBe('');
    expect(asOnPage(r.stderr, box)).toEqual(output);
  });
});
