import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HUGE_BYTES, MIB, randomBlob } from '../lib/blobs.js';
import { recordOutputFile } from '../lib/large-output.js';
import { line, quote, withCache } from '../lib/shell-line.js';
import { expectSuccess, spawnMeasured, spawnNode } from '../lib/spawn.js';

// A hit that restores a 1 GiB output file (-o), against `cp` of the stored
// blob to a new name: `dcache run -o big.bin -- <cmd>` after deleting
// big.bin, against `cp <blob> copy.bin` after deleting copy.bin. Both
// deletions are untimed. The issue's goal: within 1.5×.
export const benchCase = {
  name: '1 GB output file restore (`-o`)',
  baseline: '`cp` of the same file',
  goal: 1.5,
  defaultRuns: 5,
  defaultWarmup: 1,

  setup(build) {
    const blob = randomBlob(HUGE_BYTES);
    const fixture = recordOutputFile(build, blob, 'dcache-bench-restore-');
    return { blob, fixture, copy: join(fixture.work, 'copy.bin'), checked: false, hits: 0 };
  },

  runA: ({ fixture }) => spawnNode(fixture.hitArgs, fixture.options),
  runB: ({ fixture, copy }) => spawnMeasured('cp', [fixture.storedPath, copy], fixture.options),

  // Untimed: the output is back whole (once, byte for byte), the command
  // did not run; then it is deleted for the next A.
  checkA(state, result) {
    expectSuccess('dcache run -o big.bin (hit)', result);
    expectFile(state.fixture.output, state.blob, !state.checked);
    state.checked = true;
    if (state.fixture.runs() !== 1) throw new Error('the command ran again: the run was not a hit');
    state.hits += 1;
    rmSync(state.fixture.output);
  },
  checkB(state, result) {
    expectSuccess('cp', result);
    expectFile(state.copy, state.blob, false);
    rmSync(state.copy);
  },

  verify: ({ hits }) =>
    `the command executed once (the recording; its counter file); all ${hits} A runs restored big.bin, 1 GiB, and the first one's bytes were compared with the blob's (SHA-256)`,

  teardown: ({ fixture }) => fixture.cleanup(),

  // The outside check, which also times in its rounds the same work done
  // by C tools (F): the copy, and beside it the SHA-256 of the file that
  // every hit checks.
  hyperfine: {
    rounds: 5,
    runs: 4,
    setup(build) {
      const blob = randomBlob(HUGE_BYTES);
      const fixture = recordOutputFile(build, blob, 'dcache-hyperfine-restore-');
      const copy = join(fixture.work, 'copy.bin');
      // Before every run, the files the runs before it wrote go, and their
      // pages not yet on disk with them (none of A, B and F syncs), so that
      // that writeback does not land in the next timed run.
      const clean = line(['rm', '-f', fixture.output, copy, `${copy}.floor`]);
      const a = `cd ${quote(fixture.work)} && ${withCache(join(fixture.root, 'cache'), fixture.hitArgs)}`;
      return {
        prepareA: clean,
        prepareB: clean,
        a,
        b: line(['cp', fixture.storedPath, copy]),
        floors: [
          {
            what: '`cp` beside `openssl dgst -sha256` of the file, in parallel',
            prepare: clean,
            line: `${line(['cp', fixture.storedPath, `${copy}.floor`])} & ${line(['openssl', 'dgst', '-sha256', fixture.storedPath])} > /dev/null && wait $!`,
          },
        ],
        // every run was a hit, and one more (the timed ones' files are
        // removed by the runs after them) restores the recorded bytes
        check() {
          if (fixture.runs() !== 1) throw new Error('the command ran again: a run was not a hit');
          const again = spawnSync('bash', ['-c', a], { stdio: 'ignore' });
          if (again.status !== 0 || fixture.runs() !== 1) throw new Error('the restore after the rounds failed or ran the command');
          const sha256 = createHash('sha256').update(readFileSync(fixture.output)).digest('hex');
          if (sha256 !== blob.sha256) throw new Error('the restored file is not the recorded bytes');
        },
        cleanup: fixture.cleanup,
      };
    },
  },
};

function expectFile(path, blob, compareBytes) {
  const size = statSync(path).size;
  if (size !== blob.bytes) throw new Error(`${path} has ${size} bytes, not ${blob.bytes}`);
  if (compareBytes && sha256File(path) !== blob.sha256) throw new Error(`${path} is not the recorded bytes`);
}

function sha256File(path) {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(16 * MIB);
  const fd = openSync(path, 'r');
  try {
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
