// Measures the round trip from a host's namespace to the remote, through
// whatever delays the link (netem or the delay proxy), with the server's own
// answer included:
//
//   ip netns exec dcfleet-0 node rtt-probe.js <address> <port> redis|http <count>
//
// Prints JSON: the time to connect, and of each of `count` requests on that
// connection, one at a time (redis: PING; http: a HEAD of the bucket).
import { connect } from 'node:net';

const [address, portText, kind, countText] = process.argv.slice(2);
const count = Number(countText);
const request = kind === 'redis' ? 'PING\r\n' : `HEAD /fleet HTTP/1.1\r\nHost: ${address}\r\nConnection: keep-alive\r\n\r\n`;
const answered = (text) => (kind === 'redis' ? text.includes('\r\n') : text.includes('\r\n\r\n'));

setTimeout(() => {
  console.error('rtt-probe: no answer within 30 s');
  process.exit(1);
}, 30_000).unref();

const started = performance.now();
const socket = connect({ host: address, port: Number(portText), noDelay: true });
socket.once('error', (error) => {
  console.error(`rtt-probe: ${error.message}`);
  process.exit(1);
});
await new Promise((resolve) => socket.once('connect', resolve));
const connectMs = performance.now() - started;
const requestsMs = [];
for (let i = 0; i < count; i++) {
  const sent = performance.now();
  let text = '';
  await new Promise((resolve) => {
    const onData = (chunk) => {
      text += chunk;
      if (answered(text)) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.write(request);
  });
  requestsMs.push(performance.now() - sent);
}
socket.destroy();
console.log(JSON.stringify({ connectMs, requestsMs }));
