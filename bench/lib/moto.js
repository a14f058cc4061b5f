import { spawn, spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';

// A local S3 API server for the cloud-source cases: moto_server (as the
// tests use), on a free port of 127.0.0.1, without its IAM checks, with one
// bucket and one object. Stopped by the case's teardown.
export async function startMoto() {
  if (spawnSync('/bin/sh', ['-c', 'command -v moto_server'], { stdio: 'ignore' }).status !== 0) {
    throw new Error("moto_server is not installed (python3 -m pip install 'moto[server]')");
  }
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = `http://127.0.0.1:${port}`;
  const put = async (path, body) => {
    const response = await fetch(`${url}${path}`, { method: 'PUT', body });
    if (!response.ok) throw new Error(`moto: PUT ${path}: ${response.status}`);
  };
  await put('/exports');
  await put('/exports/acme/customers.csv', 'id,name\n1,acme\n');
  return {
    url,
    bucket: 'exports',
    key: 'acme/customers.csv',
    // what a user of the AWS CLI would have in their environment
    env: {
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: url,
      AWS_ENDPOINT_URL: url,
    },
    stop: () => child.kill('SIGTERM'),
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
