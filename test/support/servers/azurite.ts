import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { sharedKeySignature } from '../../../src/cloud/azure.js';
import { freePort, waitForServer } from './ports.js';

// A real Azure Blob Storage API for the tests: Microsoft's Azurite (from
// npm), in memory, on a free port. It checks Shared Key signatures, so a
// wrong key is refused as on Azure.

const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const VERSION = '2021-08-06';

function azuriteBlob(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
}

export class Azurite {
  private containers = 0;

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<Azurite> {
    const port = await freePort();
    const args = [azuriteBlob(), '--inMemoryPersistence', '--blobHost', '127.0.0.1', '--blobPort', String(port), '--silent', '--disableTelemetry', '--skipApiVersionCheck'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: process.env.TMPDIR ?? '/tmp' });
    await waitForServer(child, port, 'azurite');
    return new Azurite(port, child);
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}/${ACCOUNT}`;
  }

  // The connection string a user would export for this account.
  connectionString(key = KEY): string {
    return `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${key};BlobEndpoint=${this.endpoint};`;
  }

  // A new, empty container: each test has its own.
  async container(): Promise<string> {
    const name = `container-${process.pid}-${++this.containers}`;
    await this.request('PUT', `/${name}?restype=container`);
    return name;
  }

  async put(container: string, blob: string, body: string | Buffer): Promise<void> {
    const bytes = Buffer.from(body);
    await this.request('PUT', `/${container}/${encodeBlob(blob)}`, bytes, { 'x-ms-blob-type': 'BlockBlob', 'content-length': String(bytes.length) });
  }

  // the names of every blob in the container
  async keys(container: string): Promise<string[]> {
    const xml = await this.request('GET', `/${container}?restype=container&comp=list`);
    return [...xml.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => m[1]!);
  }

  async remove(container: string, blob: string): Promise<void> {
    await this.request('DELETE', `/${container}/${encodeBlob(blob)}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
  }

  private async request(method: string, path: string, body?: Buffer, extra: Record<string, string> = {}): Promise<string> {
    const url = new URL(`${this.endpoint}${path}`);
    const headers: Record<string, string> = { ...extra, 'x-ms-date': new Date().toUTCString(), 'x-ms-version': VERSION };
    headers.authorization = `SharedKey ${ACCOUNT}:${sharedKeySignature(method, url, headers, ACCOUNT, Buffer.from(KEY, 'base64'))}`;
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : new Uint8Array(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`azurite: ${method} ${path}: ${response.status} ${text}`);
    return text;
  }
}

function encodeBlob(blob: string): string {
  return blob.split('/').map(encodeURIComponent).join('/');
}
