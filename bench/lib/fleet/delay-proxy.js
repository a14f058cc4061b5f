// A TCP proxy that delays every byte by a fixed one-way time in each
// direction: the stand-in for tc netem on a kernel built without it
// (CONFIG_NET_SCH_NETEM). Run as a process of its own, so that its timers
// do not share an event loop with the runner:
//
//   node delay-proxy.js <listen address> <target address> <target port> <one-way ms>
//
// It listens on a free port of the listen address and prints that port on
// stdout. A request and its answer then take one round trip (two one-way
// delays) more than without it. A TCP handshake with the proxy completes at
// once, so the client's first bytes wait one round trip more: what the
// handshake would have cost on a delayed link. Bytes keep their order; they
// are written once their time has come, so a burst arrives as a burst.
import { connect, createServer } from 'node:net';

const [listenAddress, targetAddress, targetPortText, delayText] = process.argv.slice(2);
const targetPort = Number(targetPortText);
const oneWayMs = Number(delayText);
if (!listenAddress || !targetAddress || !(targetPort > 0) || !(oneWayMs >= 0)) {
  console.error('usage: node delay-proxy.js <listen address> <target address> <target port> <one-way ms>');
  process.exit(2);
}

// Forwards what `from` sends to `to`, each chunk `delayMs` after it arrived
// (the first `firstExtraMs` later still), in order; the end likewise.
function forward(from, to, delayMs, firstExtraMs) {
  const queue = [];
  let timer = null;
  let extra = firstExtraMs;
  const flush = () => {
    timer = null;
    const now = performance.now();
    while (queue.length > 0 && queue[0].due <= now) {
      const { chunk } = queue.shift();
      if (chunk === null) to.end();
      else to.write(chunk);
    }
    if (queue.length > 0) timer = setTimeout(flush, queue[0].due - now);
  };
  const push = (chunk) => {
    const last = queue.length > 0 ? queue[queue.length - 1].due : 0;
    queue.push({ chunk, due: Math.max(performance.now() + delayMs + extra, last) });
    extra = 0;
    timer ??= setTimeout(flush, queue[0].due - performance.now());
  };
  from.on('data', push);
  from.on('end', () => push(null));
}

const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: targetAddress, port: targetPort, noDelay: true });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  // once one side has closed, the other is closed after what was still
  // queued for it has had its time
  const grace = 2 * oneWayMs + 50;
  client.on('close', () => setTimeout(() => upstream.destroy(), grace));
  upstream.on('close', () => setTimeout(() => client.destroy(), grace));
  forward(client, upstream, oneWayMs, 2 * oneWayMs);
  forward(upstream, client, oneWayMs, 0);
});
server.listen(0, listenAddress, () => {
  process.stdout.write(`${server.address().port}\n`);
});
// the runner stops it with SIGTERM; it has nothing to save
process.on('SIGTERM', () => process.exit(0));
