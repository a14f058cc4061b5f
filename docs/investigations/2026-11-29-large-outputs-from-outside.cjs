// Ways a Node process can replay or restore a large blob, each doing only
// that (no CLI, no manifest), to see where the time of a large hit goes.
// Run under hyperfine, for instance:
//   node docs/investigations/2026-11-29-large-outputs-from-outside.cjs copy <blob> [chunk] | cat > /dev/null
// Modes that write to stdout:
//   copy      blocking reads and writes of one reused buffer, no hashing
//   copyhash  the same, hashing every chunk with SHA-256 on this thread
//   worker    copy on this thread, SHA-256 on a worker thread reading the
//             same descriptor
//   cat       a child `cat` copies the blob (stdin) to stdout while this
//             thread hashes it
// Modes that copy to a file (the restore of -o), with a 1 MiB buffer:
//   serial    read, hash, write in turn on this thread
//   kernel    fs.copyFileSync alone (copy_file_range/sendfile), no hashing
//   parallel  fs.copyFile on the thread pool while this thread hashes
const fs = require('node:fs');
const { createHash } = require('node:crypto');

const [, , mode, path, third] = process.argv;
const chunk = mode === 'serial' || mode === 'kernel' || mode === 'parallel' ? 1 << 20 : Number(third ?? 1 << 20);
const fd = fs.openSync(path, 'r');

function hashFd() {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(chunk);
  for (let position = 0, n; (n = fs.readSync(fd, buffer, 0, chunk, position)) > 0; position += n) hash.update(buffer.subarray(0, n));
  return hash.digest('hex');
}

function copyTo(out, hashing) {
  const hash = hashing ? createHash('sha256') : null;
  const buffer = Buffer.allocUnsafe(chunk);
  for (let position = 0, n; (n = fs.readSync(fd, buffer, 0, chunk, position)) > 0; position += n) {
    const piece = buffer.subarray(0, n);
    hash?.update(piece);
    for (let off = 0; off < n; ) off += fs.writeSync(out, piece, off, n - off);
  }
  return hash?.digest('hex');
}

switch (mode) {
  case 'copy':
  case 'copyhash':
    copyTo(1, mode === 'copyhash');
    break;
  case 'worker': {
    const { Worker } = require('node:worker_threads');
    // stdout: true keeps the worker off our descriptor 1, which would
    // otherwise be made non-blocking for its output
    const worker = new Worker(
      `const fs = require('node:fs'); const { parentPort, workerData } = require('node:worker_threads');
       const hash = require('node:crypto').createHash('sha256'); const buffer = Buffer.allocUnsafe(${chunk});
       for (let p = 0, n; (n = fs.readSync(workerData, buffer, 0, buffer.length, p)) > 0; p += n) hash.update(buffer.subarray(0, n));
       parentPort.postMessage(hash.digest('hex'));`,
      { eval: true, workerData: fd, stdout: true, stderr: true },
    );
    worker.once('message', () => worker.terminate());
    copyTo(1, false);
    break;
  }
  case 'cat': {
    const child = require('node:child_process').spawn('cat', [], { stdio: [fd, 1, 2] });
    hashFd();
    child.once('exit', () => {});
    break;
  }
  case 'serial': {
    const out = fs.openSync(third, 'wx', 0o600);
    copyTo(out, true);
    fs.closeSync(out);
    break;
  }
  case 'kernel':
    fs.copyFileSync(path, third, fs.constants.COPYFILE_EXCL);
    break;
  case 'parallel': {
    const copying = fs.promises.copyFile(path, third, fs.constants.COPYFILE_EXCL);
    hashFd();
    void copying;
    break;
  }
  default:
    throw new Error(`unknown mode ${mode}`);
}
