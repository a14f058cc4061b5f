import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { signRequest, type AwsCredentials } from '../../../src/cloud/sigv4.js';
import { freePort, waitForServer } from './ports.js';

// A real S3 API server for the tests: moto_server (moto 5), with its IAM
// checks on, so that every request dcache sends must carry a valid SigV4
// signature of a known access key. The first three requests, unchecked,
// make a user, its access key and a policy that allows it everything;
// from then on a wrong secret is SignatureDoesNotMatch, as on AWS.

const REGION = 'us-east-1';
// the requests moto answers before it checks signatures: the three below
const SETUP_REQUESTS = 3;

// The moto_server program, or an error saying how to get one: the S3 tests
// must fail, not skip, without it.
export function findMotoServer(): string {
  const which = spawnSync('/bin/sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  const found = which.status === 0 ? which.stdout.trim() : '';
  if (found !== '') return found;
  throw new Error("moto_server is not installed: the S3 tests need a real S3 API server (python3 -m pip install 'moto[server]')");
}

export class MotoServer {
  private buckets = 0;

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    readonly credentials: AwsCredentials,
  ) {}

  static async start(): Promise<MotoServer> {
    const binary = findMotoServer();
    const port = await freePort();
    const child = spawn(binary, ['-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: String(SETUP_REQUESTS) },
    });
    await waitForServer(child, port, 'moto_server');
    const credentials = await makeUser(port);
    return new MotoServer(port, child, credentials);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // What a user's shell would hold to reach this server with the AWS CLI.
  env(): Record<string, string> {
    return {
      AWS_ACCESS_KEY_ID: this.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.credentials.secretAccessKey,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_S3: this.url,
    };
  }

  // A new, empty bucket: each test has its own.
  async bucket(): Promise<string> {
    const name = `bucket-${process.pid}-${++this.buckets}`;
    await this.request('PUT', `/${name}`);
    return name;
  }

  async put(bucket: string, key: string, body: string | Buffer): Promise<void> {
    await this.request('PUT', `/${bucket}/${encodeKey(key)}`, Buffer.from(body));
  }

  // the key of every object in the bucket (one page: the tests hold few)
  async keys(bucket: string): Promise<string[]> {
    const xml = await this.request('GET', `/${bucket}?list-type=2`);
    return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!);
  }

  // Stops the server at once, as a crash would.
  kill(): void {
    this.child.kill('SIGKILL');
  }

  async remove(bucket: string, key: string): Promise<void> {
    await this.request('DELETE', `/${bucket}/${encodeKey(key)}`);
  }

  // Turns moto's signature checks off or on. moto computes the signature of
  // a query whose values hold '/' or '*' (ListObjectsV2 with prefix=daily/)
  // differently from AWS, and refuses the AWS CLI's own requests too: the
  // tests of listings turn the checks off while they run.
  async checkSignatures(on: boolean): Promise<void> {
    const response = await fetch(`${this.url}/moto-api/reset-auth`, { method: 'POST', body: on ? '0' : 'inf' });
    if (!response.ok) throw new Error(`moto reset-auth: ${response.status} ${await response.text()}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
  }

  private async request(method: string, path: string, body?: Buffer): Promise<string> {
    const url = new URL(`${this.url}${path}`);
    const headers = signRequest({ method, url, headers: {}, region: REGION, service: 's3', credentials: this.credentials, now: Date.now() });
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : new Uint8Array(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`moto: ${method} ${path}: ${response.status} ${text}`);
    return text;
  }
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

// The three unchecked IAM requests: a user, its key, and its policy.
async function makeUser(port: number): Promise<AwsCredentials> {
  const setup: AwsCredentials = { accessKeyId: 'AKIASETUP0000000000', secretAccessKey: 'setup' };
  const iam = async (params: Record<string, string>): Promise<string> => {
    const url = new URL(`http://127.0.0.1:${port}/`);
    const body = Buffer.from(new URLSearchParams({ ...params, Version: '2010-05-08' }).toString());
    const headers = signRequest({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      region: REGION,
      service: 'iam',
      credentials: setup,
      now: Date.now(),
      payloadHash: createHash('sha256').update(body).digest('hex'),
    });
    const response = await fetch(url, { method: 'POST', headers, body });
    const text = await response.text();
    if (!response.ok) throw new Error(`moto IAM ${params.Action}: ${response.status} ${text}`);
    return text;
  };
  await iam({ Action: 'CreateUser', UserName: 'dcache-tests' });
  const key = await iam({ Action: 'CreateAccessKey', UserName: 'dcache-tests' });
  const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });
  await iam({ Action: 'PutUserPolicy', UserName: 'dcache-tests', PolicyName: 'everything', PolicyDocument: policy });
  const accessKeyId = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(key)?.[1];
  const secretAccessKey = /<SecretAccessKey>([^<]+)<\/SecretAccessKey>/.exec(key)?.[1];
  if (!accessKeyId || !secretAccessKey) throw new Error(`moto IAM CreateAccessKey: no key in ${key}`);
  return { accessKeyId, secretAccessKey };
}
