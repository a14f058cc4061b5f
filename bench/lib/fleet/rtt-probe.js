// Measures the round trip from a host's namespace to the remote, through
// whatever delays the link (netem or the delay proxy), with the server's own
// answer included:
//
//   ip netns exec dcfleet-0 node rtt-probe.js <address> <port> redis|http <count>
//
// Prints JSON: each of `count` requests, one at a time. Redis: a PING on
// one open connection (one round trip each, after the first). HTTP: a HEAD
// of the bucket, each on a new connection, connect included (two round
// trips each), because moto_server closes every connection after one answer.
import { connect } from 'node:net';

const [address, portText, kind, countText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);

const deadline = setTimeout(() => {
  console.error('rtt-probe: no answer within 30 s');
  process.exit(1);
}, 30_000);

function open() {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, noDelay: true });
    socket.once('error', reject);
    socket.once('connect', () => resolve(socket));
  });
}

// Sends `request` and resolves once `done(text so far)` holds.
function exchange(socket, request, done) {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk;
      if (done(text)) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(request);
  });
}

const requestsMs = [];
if (kind === 'redis') {
  const socket = await open();
  for (let i = 0; i < count; i++) {
    const sent = performance.now();
    await exchange(socket, 'PING\r\n', (text) => text.includes('\r\n'));
    requestsMs.push(performance.now() - sent);
  }
  socket.destroy();
} else {
  for (let i = 0; i < count; i++) {
    const sent = performance.now();
    const socket = await open();
    await exchange(socket, `HEAD /fleet HTTP/1.1\r\nHost: ${address}\r\n\r\n`, (text) => text.includes('\r\n\r\n'));
    requestsMs.push(performance.now() - sent);
    socket.destroy();
  }
}
clearTimeout(deadline);
console.log(JSON.stringify({ requestsMs }));
