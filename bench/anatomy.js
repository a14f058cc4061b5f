// The anatomy tool behind `npm run bench:anatomy`: takes a hit with 1 KB of
// output apart (a start-up ladder and a CPU profile, frames attributed
// through source maps) and rewrites its part of BENCHMARKS.md, "Where the
// time goes on a hit". Apart from bench/run.js because it answers where the
// time goes, not whether a goal is met.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClassifier } from './anatomy/cpu-profile.js';
import { profileHit } from './anatomy/hit-profile.js';
import { measureLadder } from './anatomy/ladder.js';
import { rebuildWithMaps } from './anatomy/rebuild-with-maps.js';
import { renderAnatomy } from './anatomy/report.js';
import { writePart } from './lib/benchmarks-md.js';
import { readCount } from './lib/env-counts.js';
import { createHitFixture } from './lib/hit-fixture.js';
import { describeMachine } from './lib/machine.js';
import { snapshotRepo } from './lib/snapshot.js';

const DEFAULT_PROFILE_RUNS = 30;
const WARMUP_ROUNDS = 2;
const PROFILE_INTERVAL_US = 100;
const COMMAND = 'dcache run -- /bin/sh -c \'echo ran >> "$1"; cat "$2"\' …';

async function main() {
  const snapshot = snapshotRepo();
  process.once('SIGINT', () => {
    snapshot.cleanup();
    process.exit(130);
  });
  try {
    await dissect(snapshot);
  } finally {
    snapshot.cleanup();
  }
}

async function dissect({ build, sources }) {
  const machine = describeMachine(new Date());
  const runs = readCount('BENCH_PROFILE_RUNS', DEFAULT_PROFILE_RUNS);
  console.log(`dcache hit anatomy: ${machine.cpu}, ${machine.memory}, Node ${machine.node}, ${machine.date}`);

  // The snapshot's sources rebuilt by the project's own build, with source
  // maps: used only to attribute profile samples.
  let mapFor = null;
  try {
    mapFor = rebuildWithMaps(sources, build.dist);
    if (!mapFor) console.log('(the rebuild with source maps differs from dist/: profile frames in dist/ will not be attributed)');
  } catch (error) {
    console.log(`(rebuilding with source maps failed, so profile frames in dist/ will not be attributed: ${error.message})`);
  }

  const work = mkdtempSync(join(tmpdir(), 'dcache-bench-anatomy-'));
  let fixture;
  try {
    fixture = createHitFixture(build, { bytes: 1024, prefix: 'dcache-bench-anatomy-hit-' });
    process.stdout.write(`Start-up ladder (${runs} rounds) and CPU profiles (${runs})… `);
    const ladder = await measureLadder(build, fixture, join(work, 'clocks'), { rounds: runs, warmup: WARMUP_ROUNDS });
    const classifier = createClassifier(build.dist, mapFor ?? undefined);
    const profile = profileHit(fixture, join(work, 'profiles'), { runs, intervalUs: PROFILE_INTERVAL_US }, classifier);
    if (fixture.runs() !== 1) throw new Error(`the measured command ran ${fixture.runs()} times; expected 1 (recorded once, then only hits)`);
    console.log('done');
    printLadder(ladder);
    const markdown = renderAnatomy({
      machine,
      ladder,
      profile,
      attributed: mapFor !== null,
      command: COMMAND,
    });
    console.log(`\nWrote ${writePart('bench/anatomy.js', markdown)}`);
  } finally {
    fixture?.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

function printLadder(ladder) {
  const signed = (value) => (value === null ? '' : ` (${value >= 0 ? '+' : ''}${value.toFixed(1)})`);
  console.log('  wall ms (over node -e 0) | in-process user code ms (over node -e 0) | command');
  for (const r of ladder.rungs) {
    const wall = `${r.wallMs.toFixed(1)}${signed(r.wallOverFloorMs)}`;
    const inside = `${r.userPhaseMs.toFixed(1)}${signed(r.userOverFloorMs)}`;
    console.log(`  ${wall.padEnd(24)} | ${inside.padEnd(40)} | ${r.command.replaceAll('`', '')}`);
  }
}

await main();
