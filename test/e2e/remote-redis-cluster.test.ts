import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Cluster } from 'ioredis';
import { onlyEntry } from '../support/cache-files.js';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from '../support/fixture.js';
import { machine, numberedReport, type Machine } from '../support/machines.js';
import { plain } from '../support/messages.js';
import type { Running } from '../support/running.js';
import type { Sandbox } from '../support/sandbox.js';
import { RedisCluster } from '../support/servers/redis.js';

// A cache shared through a Redis Cluster of three masters, end to end. Each
// machine is given the URL of one node, as a user would: dcache finds out
// that it is a cluster by itself, and its keys spread over the nodes.

let cluster: RedisCluster;
// the test's own view of the cluster, to look at what is stored
let client: Cluster;
beforeAll(async () => {
  cluster = await RedisCluster.start();
  client = new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }], { lazyConnect: true });
  await client.connect();
});
afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

// Two machines that share the remote.
let a: Machine;
let b: Machine;
const started: Running[] = [];
beforeEach(async ({ box }) => {
  await Promise.all(client.nodes('master').map((node) => node.flushall()));
  a = machine(box, 'a');
  b = machine(box, 'b');
});
afterEach(async ({ box }) => {
  openGate(box);
  await Promise.all(started.splice(0).map((r) => r.done));
});

// Machine A talks to the first node, machine B to the last.
const urlA = () => cluster.url('', 0);
const urlB = () => cluster.url('', cluster.nodes.length - 1);

const report = numberedReport;

const gate = (box: Sandbox) => box.path('gate');
const openGate = (box: Sandbox) => writeFileSync(gate(box), '');
// Waits at the gate, then says which run of it this is.
const gated = (box: Sandbox) => {
  const count = box.path('job.sh.count');
  return box.counter('job.sh', [`while [ ! -f '${gate(box)}' ]; do sleep 0.02; done`, `printf 'result %s\\n' "$(wc -l < '${count}' | tr -d ' ')"`].join('\n'));
};
// each machine has either taken the lock or is waiting for it
const WAITING_OR_RUNNING = /dcache: (waiting for another machine|miss \(no entry\); running )/;

// Every key on the cluster matching `pattern`, from all masters.
async function keysMatching(pattern: string): Promise<string[]> {
  const perNode = await Promise.all(client.nodes('master').map((node) => node.keys(pattern)));
  return perNode.flat().sort();
}

it('replays on machine B what machine A recorded, without running the command, and neither says a word', ({ box }) => {
  const script = report(box);
  const recorded = a.run(['run', '--remote', urlA(), '--', script.path]);
  const replayed = b.run(['run', '--remote', urlB(), '--', script.path]);
  expect(script.runs()).toBe(1);
  expect([recorded.stdout.toString(), recorded.stderr, recorded.code]).toEqual(['report 1\n', '', 0]);
  expect([replayed.stdout.toString(), replayed.stderr, replayed.code]).toEqual(['report 1\n', '', 0]);
});

it('says in verbose mode on machine B that the hit came from the cluster', ({ box }) => {
  const script = report(box);
  a.run(['run', '--remote', urlA(), '--', script.path]);
  const replayed = b.run(['run', '-v', '--remote', urlB(), '--', script.path]);
  expect(plain(replayed.stderr)).toMatch(/^dcache: hit on the remote cache redis:\/\/127\.0\.0\.1:\d+: recorded \S+ ago .*\n$/);
});

it('restores on machine B a 6 MiB output file and the stdout machine A recorded', ({ box }) => {
  const script = box.counter('export.sh', 'head -c 6291456 /dev/urandom > export.bin; echo exported');
  a.run(['run', '--remote', urlA(), '-o', 'export.bin', '--', script.path]);
  const recorded = readFileSync(box.path('export.bin'));
  rmSync(box.path('export.bin'));
  const replayed = b.run(['run', '--remote', urlB(), '-o', 'export.bin', '--', script.path]);
  expect(script.runs()).toBe(1);
  expect(replayed.stdout.toString()).toBe('exported\n');
  expect(replayed.stderr).toBe('');
  expect(replayed.code).toBe(0);
  expect(readFileSync(box.path('export.bin')).equals(recorded)).toBe(true);
});

it('stores the entry under its key, and a blob of two chunks in the slot of its hash', async ({ box }) => {
  const script = box.counter('big.sh', 'head -c 6291456 /dev/urandom');
  a.run(['run', '--remote', urlA(), '--', script.path]);
  const entry = onlyEntry(a.cacheDir);
  expect(await client.exists(`dcache:v2:{${entry.key}}:entry`)).toBe(1);
  const hash = entry.stdout!.hash;
  const blobKeys = await keysMatching(`dcache:v2:{${hash}}:blob*`);
  expect(blobKeys).toEqual([`dcache:v2:{${hash}}:blob`, `dcache:v2:{${hash}}:blob:0`, `dcache:v2:{${hash}}:blob:1`]);
  const slots = await Promise.all(blobKeys.map((name) => client.cluster('KEYSLOT', name)));
  expect(new Set(slots).size).toBe(1);
});

it('runs the command once for two machines that miss at once, both print its result, and no lock is left', async ({ box }) => {
  const script = gated(box);
  const runs = [
    a.start(['run', '-v', '--remote', urlA(), '--', script.path]),
    b.start(['run', '-v', '--remote', urlB(), '--', script.path]),
  ];
  started.push(...runs);
  await Promise.all(runs.map((r) => r.stderrMatches(WAITING_OR_RUNNING)));
  openGate(box);
  const results = await Promise.all(runs.map((r) => r.done));
  expect(script.runs()).toBe(1);
  expect(results.map((r) => r.stdout.toString())).toEqual(['result 1\n', 'result 1\n']);
  expect(results.map((r) => r.code)).toEqual([0, 0]);
  expect(await keysMatching('dcache:v2:{*}:lock')).toEqual([]);
});
