import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkOutput } from '../lib/hit-fixture.js';
import { measureRounds } from '../lib/pairs.js';
import { REPO } from '../lib/paths.js';
import { cleanEnv, expectSuccess, spawnNode } from '../lib/spawn.js';
import { median } from '../lib/stats.js';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));

// The start-up ladder of a hit: commands that each add one piece of it on
// top of `node -e 0`, timed in rounds from outside (wall clock) and again
// from inside (a `node -r` preload notes when user code starts and when the
// process exits, which leaves out the noise of spawning and of Node's own
// bootstrap); plus which built-in modules the hit loads that `node -e 0`
// does not. `fixture` is a recorded 1 KB entry (bench/lib/hit-fixture.js).
export async function measureLadder(build, fixture, dir, { rounds, warmup }) {
  const rungs = defineRungs(build, fixture);
  mkdirSync(dir);
  const preload = ['-r', here('./exit-report.cjs')];
  let serial = 0;
  // Runs a rung with the preload and returns its report.
  const clocked = (rung) => {
    const out = join(dir, `${rung.id}-${(serial += 1)}.json`);
    const env = { ...rung.options.env, BENCH_ANATOMY_OUT: out };
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
  const userDiff = (i, base) => median(user(i).map((ms, r) => ms - user(at(base))[r]));
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
      userOverFloorMs: rung.id === 'floor' ? null : userDiff(i, 'floor'),
      // What the CLI's rungs add to an empty entry module of the same kind.
      userOverEmptyMs: rung.cli ? userDiff(i, 'empty') : null,
    })),
    hitOverVersionWallMs: wallDiff('hit', 'version'),
    extraBuiltins: strip('NativeModule '),
    extraBindings: strip('Internal Binding '),
  };
}

// Each rung: the node arguments, the spawn options and a check of the
// result. bin/dcache.js is CommonJS (bin/package.json), so the CLI's rungs
// are compared with an empty CommonJS entry point.
function defineRungs(build, fixture) {
  const plain = { cwd: REPO, env: cleanEnv() };
  const node = (id, command, adds, args, cli = false) => ({
    id,
    command,
    adds,
    args,
    cli,
    options: plain,
    check: (result) => expectSuccess(command, result),
  });
  return [
    node('floor', '`node -e 0`', 'Node start-up and exit (the floor)', ['-e', '0']),
    node('empty', '`node bench/anatomy/empty.cjs`', 'an empty CommonJS module as the entry point', [here('./empty.cjs')]),
    node('version', '`node bin/dcache.js --version`', 'load, compile and run the bundled CLI up to printing the version', [build.bin, '--version'], true),
    {
      id: 'hit',
      command: '`node bin/dcache.js run -- …` (hit)',
      adds: 'a hit with 1 KB of output, as in the case "hit, 1 KB output"',
      args: fixture.args,
      cli: true,
      options: fixture.options,
      check: (result) => checkOutput('dcache hit', fixture, result),
    },
  ];
}
