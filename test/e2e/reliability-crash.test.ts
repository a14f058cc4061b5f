import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listFiles, manifests } from '../support/cache-files.js';
import { describe, expect, it } from '../support/fixture.js';
import { CRASH, dcacheLines, plain } from '../support/messages.js';
import { killGroup, readPid } from '../support/processes.js';
import { type Running, startDcache } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { waitUntil } from '../support/wait.js';

// kill -9 at any point of a recording, and damaged entries: the previous
// entry or none survives, never a torn one, and the next call runs the
// command in full.

// A command that prints data.txt, then, if a file `hold` exists, removes it,
// writes its pid to `started` and waits until `release` exists; then
// prints "end". Without `hold` it runs straight through.
function holdable(box: Sandbox) {
  const command = box.counter(
    'export.sh',
    [
      `cat '${box.path('data.txt')}'`,
      `if [ -e '${box.path('hold')}' ]; then`,
      `  rm '${box.path('hold')}'`,
      `  echo $$ > '${box.path('started')}'`,
      `  while [ ! -e '${box.path('release')}' ]; do sleep 0.05; done`,
      'fi',
      'echo end',
    ].join('\n'),
  );
  return {
    ...command,
    hold: () => {
      rmSync(box.path('started'), { force: true });
      writeFileSync(box.path('hold'), '');
    },
    started: () => existsSync(box.path('started')),
    pid: () => readPid(box.path('started')),
  };
}

// 300 kB of one letter: big enough to be on its way to the store when killed.
const dataOf = (letter: string) => `${letter.repeat(299_999)}\n`;
const writeData = (box: Sandbox, letter: string) => writeFileSync(box.path('data.txt'), dataOf(letter));
const fullOutput = (letter: string) => `${dataOf(letter)}end\n`;

const tmpFiles = (box: Sandbox) => listFiles(join(box.cacheDir, 'tmp'));

// Starts a held recording, waits until the command is in the middle of it,
// and kills dcache with -9.
async function killDcacheMidRecording(box: Sandbox, command: ReturnType<typeof holdable>, args: string[]) {
  command.hold();
  const call = startDcache(box, ['run', ...args, '--', command.path]);
  await waitUntil('the command is half-way', command.started);
  box.killAtCleanup(command.pid());
  call.child.kill('SIGKILL');
  const r = await call.done;
  expect(r.signal).toBe('SIGKILL');
}

describe('kill -9 of dcache during a recording', () => {
  it('leaves no entry, and the next call runs the command in full', async ({ box }) => {
    const command = holdable(box);
    writeData(box, 'a');
    await killDcacheMidRecording(box, command, []);
    expect(manifests(box.cacheDir)).toEqual([]);
    const next = box.dcache(['run', '--', command.path]);
    expect(command.runs()).toBe(2);
    expect(next.code).toBe(0);
    expect(next.stdout.toString()).toBe(fullOutput('a'));
    expect(next.stderr).toBe('');
  });

  it('leaves the previous entry when a --force re-recording is killed', async ({ box }) => {
    const command = holdable(box);
    writeData(box, 'a');
    box.dcache(['run', '--', command.path]);
    writeData(box, 'b');
    await killDcacheMidRecording(box, command, ['--force']);
    const next = box.dcache(['run', '--', command.path]);
    expect(command.runs()).toBe(2);
    expect(next.code).toBe(0);
    expect(next.stdout.toString()).toBe(fullOutput('a'));
    expect(next.stderr).toBe('');
  });

  it('leaves a complete entry or none, whenever during the recording it is killed', async ({ box }) => {
    // Prints its version in ten chunks, then "end".
    const command = box.counter(
      'chunks.sh',
      `echo $$ > '${box.path('chunks.pid')}'\nfor i in 0 1 2 3 4 5 6 7 8 9; do cat '${box.path('data.txt')}'; sleep 0.03; done\necho end`,
    );
    const outputOf = (letter: string) => `${dataOf(letter).repeat(10)}end\n`;
    const letters = 'bcdefghij';
    // Where in the recording dcache is killed: once the command has started,
    // then once so many bytes of the command's output have come out on
    // dcache's stdout (it records what it passes on), up to all of them,
    // when it may be storing the entry. Points of the recording, not delays,
    // so that none of them falls before it on a slow machine.
    const chunk = dataOf('a').length;
    const killPoints: Array<(call: Running) => Promise<void>> = [
      () => waitUntil('the command starts', () => existsSync(box.path('chunks.pid'))),
      ...[1, chunk, 3 * chunk, 5 * chunk, 7 * chunk, 9 * chunk, 10 * chunk, outputOf('a').length].map(
        (bytes) => (call: Running) => call.stdoutReaches(bytes),
      ),
    ];
    writeData(box, 'a');
    box.dcache(['run', '--', command.path]);
    const possible = new Set([outputOf('a')]);
    for (const [i, reached] of killPoints.entries()) {
      const letter = letters[i]!;
      writeData(box, letter);
      possible.add(outputOf(letter));
      rmSync(box.path('chunks.pid'), { force: true });
      const call = startDcache(box, ['run', '--force', '--', command.path]);
      await reached(call);
      call.child.kill('SIGKILL');
      await call.done;
      if (existsSync(box.path('chunks.pid'))) killGroup(readPid(box.path('chunks.pid')));
      const before = command.runs();
      const next = box.dcache(['run', '--', command.path]);
      expect(next.code).toBe(0);
      expect(next.stderr).toBe('');
      const printed = next.stdout.toString();
      expect(possible.has(printed)).toBe(true);
      // A call that ran the command printed this round's version.
      if (command.runs() > before) expect(printed).toBe(outputOf(letter));
    }
  });
});

describe('kill -9 of the command during a recording', () => {
  it('ends the call with 137, records nothing, and the next call runs the command in full', async ({ box }) => {
    const command = holdable(box);
    writeData(box, 'a');
    command.hold();
    const call = startDcache(box, ['run', '--', command.path]);
    await waitUntil('the command is half-way', command.started);
    process.kill(command.pid(), 'SIGKILL');
    const r = await call.done;
    expect(r.code).toBe(128 + 9);
    expect(r.stdout.toString()).toBe(dataOf('a'));
    expect(r.stderr).toBe('');
    expect(manifests(box.cacheDir)).toEqual([]);
    const next = box.dcache(['run', '--', command.path]);
    expect(command.runs()).toBe(2);
    expect(next.stdout.toString()).toBe(fullOutput('a'));
  });

  it('leaves the previous entry when it dies during a --force re-recording', async ({ box }) => {
    const command = holdable(box);
    writeData(box, 'a');
    box.dcache(['run', '--', command.path]);
    writeData(box, 'b');
    command.hold();
    const call = startDcache(box, ['run', '--force', '--', command.path]);
    await waitUntil('the command is half-way', command.started);
    process.kill(command.pid(), 'SIGKILL');
    expect((await call.done).code).toBe(137);
    const next = box.dcache(['run', '--', command.path]);
    expect(command.runs()).toBe(2);
    expect(next.stdout.toString()).toBe(fullOutput('a'));
  });
});

describe('temp files of a killed recording', () => {
  it('are left alone by gc while younger than an hour', async ({ box }) => {
    const command = holdable(box);
    writeData(box, 'a');
    await killDcacheMidRecording(box, command, []);
    const temps = tmpFiles(box);
    expect(temps.length).toBeGreaterThan(0);
    const r = box.dcache(['gc']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('freed 0 B: 0 entries, 0 blobs, 0 temp files\n');
    expect(tmpFiles(box)).toEqual(temps);
  });

  it('are removed by gc once older than an hour', async ({ box }) => {
    const command = holdable(box);
    writeData(box, 'a');
    await killDcacheMidRecording(box, command, []);
    const temps = tmpFiles(box);
    expect(temps.length).toBeGreaterThan(0);
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const file of temps) utimesSync(file, twoHoursAgo, twoHoursAgo);
    const r = box.dcache(['gc']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toMatch(new RegExp(`^freed .*: 0 entries, 0 blobs, ${temps.length} temp files?\\n$`));
    expect(tmpFiles(box)).toEqual([]);
  });
});

// --- damaged entries ---

interface Recorded {
  manifestPath: string;
  manifest: {
    format: number;
    stdout: { hash: string; size: number };
    stderr: { hash: string; size: number };
    order: { hash: string; size: number };
    outputs: Array<{ type: string; blob?: { hash: string } }>;
  };
  blob: (hash: string) => string;
}

const OUT = 'first out\nsecond out\n';
const ERR = 'an err line\n';

// Records a command that writes stdout, stderr and stdout again (so its
// entry has a stdout, a stderr and an interleaving blob).
function recordInterleaved(box: Sandbox) {
  const command = box.counter('report.sh', "printf 'first out\\n'; printf 'an err line\\n' >&2; printf 'second out\\n'");
  box.dcache(['run', '--', command.path]);
  const [manifestPath] = manifests(box.cacheDir);
  const recorded: Recorded = {
    manifestPath: manifestPath!,
    manifest: JSON.parse(readFileSync(manifestPath!, 'utf8')),
    blob: (hash) => join(box.cacheDir, 'blobs', hash.slice(0, 2), hash),
  };
  return { command, recorded };
}

const flip = (text: string) => text.replace(/[a-z]/g, (c) => c.toUpperCase());

const damages: Array<[string, (r: Recorded) => void, RegExp]> = [
  ['a truncated stdout blob', (r) => writeFileSync(r.blob(r.manifest.stdout.hash), 'first'), /\(blob [0-9a-f]{16} has 5 B, not 21 B\)/],
  ['a stdout blob altered at the same size', (r) => writeFileSync(r.blob(r.manifest.stdout.hash), flip(OUT)), /\(blob [0-9a-f]{16} does not match its hash\)/],
  ['a stderr blob altered at the same size', (r) => writeFileSync(r.blob(r.manifest.stderr.hash), flip(ERR)), /\(blob [0-9a-f]{16} does not match its hash\)/],
  ['an interleaving record altered at the same size', (r) => {
    const path = r.blob(r.manifest.order.hash);
    const runs = readFileSync(path, 'latin1');
    writeFileSync(path, (runs.startsWith('1') ? '2' : '1') + runs.slice(1), 'latin1');
  }, /\(blob [0-9a-f]{16} does not match its hash\)/],
  ['a missing stdout blob', (r) => rmSync(r.blob(r.manifest.stdout.hash)), /\(blob [0-9a-f]{16} is missing\)/],
  ['a missing interleaving record', (r) => rmSync(r.blob(r.manifest.order.hash)), /\(blob [0-9a-f]{16} is missing\)/],
  ['a blob replaced by a directory', (r) => {
    rmSync(r.blob(r.manifest.stdout.hash));
    mkdirSync(join(r.blob(r.manifest.stdout.hash), 'sub'), { recursive: true });
  }, /\(blob [0-9a-f]{16} has [^,]+, not 21 B\)/],
  ['an empty manifest', (r) => writeFileSync(r.manifestPath, ''), /\(empty manifest\)/],
  ['a manifest cut in half', (r) => {
    const text = readFileSync(r.manifestPath, 'utf8');
    writeFileSync(r.manifestPath, text.slice(0, text.length >> 1));
  }, /\(garbled manifest\)/],
  ['a manifest of binary garbage', (r) => writeFileSync(r.manifestPath, Buffer.from([0xff, 0x00, 0xfe, 0x7b, 0x80, 0x22])), /\(garbled manifest\)/],
  ['a manifest that is JSON null', (r) => writeFileSync(r.manifestPath, 'null'), /\(garbled manifest \(not an object\)\)/],
  ['a manifest whose format is the string "2"', (r) => writeFileSync(r.manifestPath, JSON.stringify({ ...r.manifest, format: '2' })), /\(garbled manifest \(format "2"\)\)/],
  ['a manifest with an exit code of 300', (r) => writeFileSync(r.manifestPath, JSON.stringify({ ...r.manifest, exitCode: 300 })), /\(garbled manifest \(exitCode\)\)/],
  ['a manifest filed under another key', (r) => writeFileSync(r.manifestPath, JSON.stringify({ ...r.manifest, key: '0123456789abcdef' })), /\(manifest filed under another key\)/],
];

describe('a damaged entry', () => {
  for (const [what, damage, detail] of damages) {
    it(`is a miss with one warning and is dropped: ${what}`, ({ box }) => {
      const { command, recorded } = recordInterleaved(box);
      damage(recorded);
      const r = box.dcache(['run', '--', command.path]);
      expect(command.runs()).toBe(2);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe(OUT);
      expect(r.stderr).not.toMatch(CRASH);
      const own = dcacheLines(plain(r.stderr));
      expect(own).toHaveLength(1);
      expect(own[0]).toMatch(/^dcache: dropped a bad cache entry \(/);
      expect(own[0]).toMatch(detail);
      expect(own[0]).toMatch(/; running the command$/);
      expect(plain(r.stderr).replace(`${own[0]}\n`, '')).toBe(ERR);
      // The bad entry was replaced by the run's own: the next call replays quietly.
      const next = box.dcache(['run', '--', command.path]);
      expect(command.runs()).toBe(2);
      expect(next.stdout.toString()).toBe(OUT);
      expect(next.stderr).toBe(ERR);
    });
  }

  it('is a miss when an output file blob is altered at the same size', ({ box }) => {
    const command = box.counter('out.sh', "printf 'file body\\n' > result.txt; echo printed");
    box.dcache(['run', '-o', 'result.txt', '--', command.path]);
    const manifest = JSON.parse(readFileSync(manifests(box.cacheDir)[0]!, 'utf8')) as Recorded['manifest'];
    const file = manifest.outputs.find((o) => o.type === 'file')!;
    writeFileSync(join(box.cacheDir, 'blobs', file.blob!.hash.slice(0, 2), file.blob!.hash), 'FILE BODY\n');
    rmSync(box.path('result.txt'));
    const r = box.dcache(['run', '-o', 'result.txt', '--', command.path]);
    expect(command.runs()).toBe(2);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('printed\n');
    expect(plain(r.stderr)).toMatch(/^dcache: dropped a bad cache entry \(blob [0-9a-f]{16} does not match its hash\); running the command\n$/);
    expect(readFileSync(box.path('result.txt'), 'utf8')).toBe('file body\n');
  });

  it('is a miss, not a crash, when its manifest is nested too deeply to print', ({ box }) => {
    const { command, recorded } = recordInterleaved(box);
    // Valid JSON that JSON.parse reads, but JSON.stringify cannot write back.
    const depth = 100_000;
    writeFileSync(recorded.manifestPath, `{"format":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    const r = box.dcache(['run', '--', command.path]);
    expect(r.stderr).not.toMatch(CRASH);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(OUT);
    expect(command.runs()).toBe(2);
    expect(dcacheLines(plain(r.stderr))).toHaveLength(1);
  });

  it('is removed by gc without a crash when its manifest is nested too deeply to print', ({ box }) => {
    const { recorded } = recordInterleaved(box);
    const depth = 100_000;
    writeFileSync(recorded.manifestPath, `{"format":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    const r = box.dcache(['gc']);
    expect(r.stderr).not.toMatch(CRASH);
    expect(r.code).toBe(0);
    expect(existsSync(recorded.manifestPath)).toBe(false);
  });
});

describe('an output over 8 MiB found damaged while it streams', () => {
  const size = 9 * 1024 * 1024;

  function recordBig(box: Sandbox) {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = 97 + (i % 26);
    writeFileSync(box.path('big.bin'), data);
    const command = box.counter('big.sh', `cat '${box.path('big.bin')}'`);
    box.dcache(['run', '--', command.path]);
    const manifest = JSON.parse(readFileSync(manifests(box.cacheDir)[0]!, 'utf8')) as Recorded['manifest'];
    const blob = join(box.cacheDir, 'blobs', manifest.stdout.hash.slice(0, 2), manifest.stdout.hash);
    // The same size, the last four bytes changed.
    const bytes = readFileSync(blob);
    bytes.write('ZZZZ', size - 4, 'latin1');
    writeFileSync(blob, bytes);
    expect(statSync(blob).size).toBe(size);
    return { command, data };
  }

  it('ends the call with exit 125 and one message saying the entry is dropped', ({ box }) => {
    const { command } = recordBig(box);
    const r = box.dcache(['run', '--', command.path]);
    expect(r.code).toBe(125);
    expect(r.stdout.length).toBe(size);
    expect(plain(r.stderr)).toMatch(
      /^dcache: the cached output was found corrupt while replaying it \(blob [0-9a-f]{16} does not match its hash\); the entry is dropped, and the next run will execute the command\n$/,
    );
    expect(manifests(box.cacheDir)).toEqual([]);
    expect(command.runs()).toBe(1);
  });

  // The blob cut short while a slow reader takes the replay: the read of a
  // later chunk fails while an earlier chunk's write waits for the reader.
  it('ends the call with exit 125 when the blob is cut short during the replay', ({ box }) => {
    const { command } = recordBig(box);
    const manifest = JSON.parse(readFileSync(manifests(box.cacheDir)[0]!, 'utf8')) as Recorded['manifest'];
    const blob = join(box.cacheDir, 'blobs', manifest.stdout.hash.slice(0, 2), manifest.stdout.hash);
    writeFileSync(
      box.path('reader.py'),
      [
        'import os, subprocess, sys, time',
        'child = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)',
        'got, cut = 0, False',
        'while True:',
        '    chunk = child.stdout.read1(65536)',
        '    if not chunk:',
        '        break',
        '    got += len(chunk)',
        '    if got >= 2621440 and not cut:',
        '        os.truncate(sys.argv[1], 3145728)',
        '        cut = True',
        '    time.sleep(0.002)',
        'err = child.stderr.read().decode()',
        'print(child.wait(), got)',
        'sys.stdout.write(err)',
      ].join('\n'),
    );
    const r = box.shell(`python3 reader.py '${blob}' $DCACHE run -- '${command.path}'`);
    const [status, ...rest] = r.stdout.toString().split('\n');
    expect(status!.split(' ')[0]).toBe('125');
    expect(plain(rest.join('\n'))).toMatch(/^dcache: the cached output was found corrupt while replaying it \(blob [0-9a-f]{16} is shorter than recorded\); the entry is dropped/);
    expect(manifests(box.cacheDir)).toEqual([]);
  });

  it('runs the command on the next call and prints its output in full', ({ box }) => {
    const { command, data } = recordBig(box);
    box.dcache(['run', '--', command.path]);
    const next = box.dcache(['run', '--', command.path]);
    expect(command.runs()).toBe(2);
    expect(next.code).toBe(0);
    expect(next.stdout.equals(data)).toBe(true);
    expect(next.stderr).toBe('');
  });
});
