import os from 'node:os';

// The machine a run measured, written above its figures: they mean little
// without it.
export function describeMachine(startedAt) {
  const cpus = os.cpus();
  return {
    cpu: `${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    load: os.loadavg().map((x) => x.toFixed(2)).join(' / '),
    node: `${process.version} (V8 ${process.versions.v8})`,
    date: startedAt.toISOString(),
  };
}

export function renderMachine(machine) {
  return `- Date: ${machine.date}
- CPU: ${machine.cpu}
- Memory: ${machine.memory}
- OS: ${machine.os}; load average at start (1 / 5 / 15 min): ${machine.load}
- Node: ${machine.node}`;
}
