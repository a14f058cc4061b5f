import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { beforeEach, describe, expect, it } from '../support/fixture.js';
import { startDcache, startShell } from '../support/running.js';
import { serveMemoryDav } from '../support/servers/memory-dav.js';
import type { Sandbox } from '../support/sandbox.js';

// A transfer to or from the remote cache that lasts more than a second
// shows a progress line on stderr when stderr is a terminal: the terminal
// is util-linux `script`'s pseudo-terminal, and the remote an HTTP server
// that takes 1 MiB a second, so that 3 MiB take about three seconds.
if (!/util-linux/.test(spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout ?? '')) {
  throw new Error('util-linux script is needed for the terminal tests (apt-get install bsdutils)');
}

const MiB = 1 << 20;
const ESC = '\u001b';
// what the job writes: 3 MiB into a file it declares, "done" on stdout
const JOB = ['-o', 'big.bin', '--', 'sh', '-c', 'head -c 3145728 /dev/urandom > big.bin; echo done'];

describe('a progress line for a slow transfer', () => {
  const web = serveMemoryDav();
  beforeEach(() => {
    web.dav.bytesPerSecond = MiB;
  });
  const remote = () => web.server.url('/cache');

  // dcache on a terminal `columns` wide; what the terminal was sent
  const onTerminal = async (box: Sandbox, args: string[], dir: string, columns = 100) => {
    const quoted = args.map((a) => `'${a}'`).join(' ');
    const r = await startShell(box, `script -qec "stty cols ${columns}; \\$DCACHE run --dir '${dir}' --remote '${remote()}' ${quoted}" /dev/null`).done;
    return { code: r.code, text: r.stdout.toString() };
  };

  it('shows what it is, the bytes, the share and the rate, redrawn in place and cleared at the end', async ({ box }) => {
    const record = await onTerminal(box, JOB, box.path('first'));
    expect(record.code).toBe(0);
    const uploads = record.text.split('\r').filter((part) => part.includes('uploading'));
    expect(uploads.length).toBeGreaterThan(1);
    for (const line of uploads) {
      expect(line).toMatch(new RegExp(`^${ESC}\\[Kdcache: uploading \\d+(\\.\\d)? (B|KiB|MiB) of 3\\.0 MiB \\(\\d+%\\), \\d+(\\.\\d)? (B|KiB|MiB)/s, to ${remote()}$`));
      // one line on the terminal: never as wide as it
      expect(line.length - 3).toBeLessThan(100);
    }
    // the last thing on the terminal clears the line it drew; it was drawn
    // on the line after the command's last one
    expect(record.text.endsWith(`\r${ESC}[K`)).toBe(true);
    expect(record.text).toContain(`done\r\n\r${ESC}[Kdcache: uploading`);

    // another machine (another cache directory) downloads it, on a terminal
    // too narrow for the whole line: the end is cut, the figures stay
    const copy = readFileSync(box.path('big.bin'));
    const hit = await onTerminal(box, JOB, box.path('second'), 50);
    expect(hit.code).toBe(0);
    const downloads = hit.text.split('\r').filter((part) => part.includes('downloading'));
    expect(downloads.length).toBeGreaterThan(1);
    for (const line of downloads) {
      expect(line).toMatch(new RegExp(`^${ESC}\\[Kdcache: downloading .* of 3\\.0 MiB \\(\\d+%\\), .*…$`));
      expect(line.length - 3).toBeLessThan(50);
    }
    expect(hit.text).toContain(`\r${ESC}[Kdone\r\n`);
    expect(readFileSync(box.path('big.bin')).equals(copy)).toBe(true);
  });

  it('starts below a last line of output that has no newline, leaving it whole', async ({ box }) => {
    const job = ['-o', 'big.bin', '--', 'sh', '-c', 'head -c 3145728 /dev/urandom > big.bin; printf partial'];
    const record = await onTerminal(box, job, box.path('cache'));
    expect(record.code).toBe(0);
    expect(record.text).toContain(`partial\r\n\r${ESC}[Kdcache: uploading`);
    expect(record.text.endsWith(`\r${ESC}[K`)).toBe(true);
  });

  // Ctrl-C during an upload of 16 MiB at 1 MiB/s: 4 s in, well after the
  // line is drawn and long before the upload is over
  it('clears its line when dcache is interrupted mid-transfer', async ({ box }) => {
    writeFileSync(
      box.path('interrupt.sh'),
      [
        `$DCACHE run --dir '${box.path('cache')}' --remote '${remote()}' -o big.bin -- sh -c 'head -c 16777216 /dev/urandom > big.bin; echo done' &`,
        'P=$!',
        'sleep 4',
        'kill -INT $P',
        'wait $P',
        'echo exit=$?',
      ].join('\n'),
    );
    const r = await startShell(box, `script -qec "stty cols 100; sh '${box.path('interrupt.sh')}'" /dev/null`).done;
    const text = r.stdout.toString();
    expect(text).toContain('dcache: uploading');
    expect(text.endsWith(`\r${ESC}[Kexit=130\r\n`)).toBe(true);
  });

  it('shows nothing when stderr is not a terminal', async ({ box }) => {
    const r = await startDcache(box, ['run', '--remote', remote(), ...JOB]).done;
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(web.dav.files.size).toBeGreaterThan(0);
  });

  it('shows nothing with --quiet', async ({ box }) => {
    const r = await onTerminal(box, ['-q', ...JOB], box.path('cache'));
    expect(r.code).toBe(0);
    expect(r.text).toBe('done\r\n');
  });
});
