import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProbeBundles, isEsmEntry } from './bundles.js';
import { createClassifier, summariseProfiles } from './cpu-profile.js';
import { checkOutput, createHitFixture } from './hit-fixture.js';
import { measureRounds } from './pairs.js';
import { PROBES, REPO } from './paths.js';
import { cleanEnv, expectSuccess, spawnNode } from './spawn.js';
import { median } from './stats.js';

// Takes a hit with 1 KB of output apart, two ways:
//   ladder    commands that each add one piece of the hit on top of
//             `node -e 0`, timed in rounds from outside (wall clock) and
//             again from inside (a `node -r` preload notes when user code
//             starts and when the process exits, which leaves out the
//             noise of spawning and of Node's own bootstrap); plus which
//             built-in modules the hit loads that `node -e 0` does not
//   profile   `node --cpu-prof` of the hit, its samples put in buckets:
//             Node's loader, V8's compiler, and (through source maps) each
//             bundled package and each file of src/
// `rebuilt` is what bench/lib/bundles.js's rebuildWithMaps() returned, or
// null if the rebuild failed: then the probes are left out and profile
// frames in dist/ are not attributed.
export async function dissectHit(build, rebuilt, { rounds, warmup, profileRuns, profileIntervalUs }) {
  const work = mkdtempSync(join(tmpdir(), 'dcache-bench-anatomy-'));
  let fixture;
  try {
    fixture = createHitFixture(build, { bytes: 1024, prefix: 'dcache-bench-anatomy-hit-' });
    const bundles = rebuilt ? await buildProbeBundles(join(work, 'probes'), rebuilt.options) : null;
    const rungs = defineRungs(build, fixture, bundles);
    const ladder = await measureLadder(rungs, join(work, 'clocks'), { rounds, warmup });
    const classify = createClassifier(build.dist, rebuilt?.mapFor ?? undefined);
    const profile = profileHit(fixture, join(work, 'profiles'), { runs: profileRuns, intervalUs: profileIntervalUs }, classify);
    const runs = fixture.runs();
    if (runs !== 1) throw new Error(`the measured command ran ${runs} times; expected 1 (recorded once, then only hits)`);
    return { ladder, profile, attributed: Boolean(rebuilt?.mapFor) };
  } finally {
    fixture?.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

// Each rung: the node arguments, the spawn options, a check of the result,
// and which kind of entry point it is (for the "over an empty entry" column).
function defineRungs(build, fixture, bundles) {
  const plain = { cwd: REPO, env: cleanEnv() };
  const node = (id, command, adds, args) => ({
    id,
    command,
    adds,
    args,
    options: plain,
    entry: args[0] === '-e' ? null : isEsmEntry(args[0]) ? 'esm' : 'cjs',
    check: (result) => expectSuccess(command, result),
  });
  const binKind = isEsmEntry(build.bin) ? 'an ES module' : 'CommonJS';
  const probe = (id, name, adds) =>
    bundles ? [node(id, `${name} alone, bundled`, `${adds} (bench/probes/${name}-only.js, bundled with the CLI's esbuild options)`, [bundles[`${name}-only`]])] : [];
  return [
    node('floor', '`node -e 0`', 'Node start-up and exit (the floor)', ['-e', '0']),
    node('esm', '`node bench/probes/empty.mjs`', 'an empty ES module as the entry point (ESM loader)', [join(PROBES, 'empty.mjs')]),
    node('cjs', '`node bench/probes/empty.cjs`', 'an empty CommonJS module as the entry point', [join(PROBES, 'empty.cjs')]),
    node(
      'stdio',
      '`node -e "process.stdout; process.stderr"`',
      'create the stdout and stderr streams on pipes (loads net, stream, tty)',
      ['-e', 'process.stdout; process.stderr'],
    ),
    node(
      'child_process',
      "`node -e \"require('node:child_process')\"`",
      'load node:child_process (commander requires it at top level)',
      ['-e', "require('node:child_process')"],
    ),
    ...probe('commander', 'commander', 'load commander and parse a `run -- cmd` line'),
    ...probe('xxhash', 'xxhash', 'load xxhash-wasm, compile its WebAssembly, hash 1 KB'),
    node(
      'version',
      '`node bin/dcache.js --version`',
      `load, compile and run the bundled CLI (bin/ is ${binKind}) up to printing the version`,
      [build.bin, '--version'],
    ),
    {
      id: 'hit',
      command: '`node bin/dcache.js run -- …` (hit)',
      adds: 'the 1 KB hit of the results table',
      args: fixture.args,
      options: fixture.options,
      entry: isEsmEntry(build.bin) ? 'esm' : 'cjs',
      check: (result) => checkOutput('dcache hit', fixture, result),
    },
  ];
}

async function measureLadder(rungs, dir, { rounds, warmup }) {
  mkdirSync(dir);
  const preload = ['-r', join(PROBES, 'exit-report.cjs')];
  let serial = 0;
  // Runs a rung with the preload and returns its report.
  const clocked = (rung) => {
    const out = join(dir, `${rung.id}-${(serial += 1)}.json`);
    const env = { ...rung.options.env, BENCH_PROBE_OUT: out };
    rung.check(spawnNode([...preload, ...rung.args], { ...rung.options, env }));
    return JSON.parse(readFileSync(out, 'utf8'));
  };

  const wall = await measureRounds(
    rungs.map((rung) => ({ run: () => spawnNode(rung.args, rung.options), check: rung.check })),
    { rounds, warmup },
  );
  const reports = rungs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, rung] of rungs.entries()) reports[i].push(clocked(rung));
  }

  const at = (id) => rungs.findIndex((rung) => rung.id === id);
  // The median of per-round differences: both commands ran in the same round.
  const wallDiff = (id, base) => median(wall[at(id)].map((ms, r) => ms - wall[at(base)][r]));
  const user = (i) => reports[i].map((x) => x.exitAt - x.preloadAt);
  const floorModules = new Set(reports[at('floor')][0].modules);
  const extra = reports[at('hit')][0].modules.filter((m) => !floorModules.has(m));
  const strip = (prefix) => extra.filter((m) => m.startsWith(prefix)).map((m) => m.slice(prefix.length));

  return {
    rounds,
    rungs: rungs.map((rung, i) => ({
      id: rung.id,
      command: rung.command,
      adds: rung.adds,
      wallMs: median(wall[i]),
      wallOverFloorMs: rung.id === 'floor' ? null : wallDiff(rung.id, 'floor'),
      userCodeAtMs: median(reports[i].map((x) => x.preloadAt)),
      userPhaseMs: median(user(i)),
      userOverFloorMs: rung.id === 'floor' ? null : median(user(i).map((ms, r) => ms - user(at('floor'))[r])),
      // For module entry points: what they add to an empty one of their kind.
      userOverEmptyMs:
        rung.entry === null || rung.id === rung.entry ? null : median(user(i).map((ms, r) => ms - user(at(rung.entry))[r])),
    })),
    hitOverVersionWallMs: wallDiff('hit', 'version'),
    extraBuiltins: strip('NativeModule '),
    extraBindings: strip('Internal Binding '),
  };
}

function profileHit(fixture, dir, { runs, intervalUs }, classify) {
  const flags = (sub) => ['--cpu-prof', '--cpu-prof-dir', join(dir, sub), '--cpu-prof-interval', String(intervalUs)];
  for (let i = 0; i < runs; i++) {
    checkOutput('profiled dcache hit', fixture, spawnNode([...flags('hit'), ...fixture.args], fixture.options));
    expectSuccess('profiled node -e 0', spawnNode([...flags('floor'), '-e', '0'], { cwd: REPO, env: cleanEnv() }));
  }
  const list = (sub) => readdirSync(join(dir, sub)).map((name) => join(dir, sub, name));
  return {
    runs,
    intervalUs,
    hit: summariseProfiles(list('hit'), classify),
    floor: summariseProfiles(list('floor'), classify),
  };
}
