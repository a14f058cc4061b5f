import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// `dcache completion bash|zsh|fish`, each script loaded into the real shell
// (the test set-up installs zsh, fish and bash-completion): bash both through
// its programmable completion's variables (COMP_WORDS, COMP_CWORD) and
// through readline itself, TAB pressed in an interactive bash on a
// terminal; zsh through its completion system in a zpty; fish through
// `complete -C`.

const SUBCOMMANDS = ['run', 'status', 'ls', 'show', 'clear', 'gc', 'stats', 'config', 'completion'];
const POLICY_NAMES = ['daily', 'hourly', 'weekly', 'monthly', 'forever', 'ttl:', 'cron:'];

// Writes the bash script to a file once per test.
function bashScript(box: Sandbox): string {
  const r = box.dcache(['completion', 'bash']);
  expect(r.code).toBe(0);
  const path = box.path('dcache.bash');
  writeFileSync(path, r.stdout);
  return path;
}

// What bash offers for the command line `words` (the last one is the word
// being completed, '' after a space), through the function that the script
// registers for dcache with `complete -F`.
function bashComplete(box: Sandbox, script: string, words: string[]): string[] {
  const program = `
    source "$1"; shift
    fn=$(complete -p dcache | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
    COMP_LINE="$*"; COMP_POINT=\${#COMP_LINE}
    "$fn" dcache "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\\n' "\${COMPREPLY[@]}"
  `;
  const r = spawnSync('bash', ['-c', program, 'bash', script, ...words], { cwd: box.root, env: box.env, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter(Boolean).sort();
}

describe('dcache completion bash', () => {
  it('prints a script that bash parses, on stdout, and exits 0', ({ box }) => {
    const r = box.dcache(['completion', 'bash']);
    const check = spawnSync('bash', ['-n'], { input: r.stdout, encoding: 'utf8' });
    expect(check.status).toBe(0);
    expect(check.stderr).toBe('');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('registers a completion for the dcache command', ({ box }) => {
    const script = bashScript(box);
    const r = spawnSync('bash', ['-c', 'source "$1" && complete -p dcache', 'bash', script], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^complete .*-F \S+ dcache\n$/);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('completes a subcommand from its first letters', ({ box }) => {
    expect(bashComplete(box, bashScript(box), ['dcache', 'ru'])).toEqual(['run']);
  });

  it('offers every subcommand after dcache', ({ box }) => {
    expect(bashComplete(box, bashScript(box), ['dcache', ''])).toEqual(expect.arrayContaining(SUBCOMMANDS));
  });

  it('completes an option of run from its first letters', ({ box }) => {
    expect(bashComplete(box, bashScript(box), ['dcache', 'run', '--po'])).toEqual(['--policy']);
  });

  it('offers the options of the subcommand given, not those of another', ({ box }) => {
    const offered = bashComplete(box, bashScript(box), ['dcache', 'gc', '--']);
    expect(offered).toEqual(expect.arrayContaining(['--max-size', '--max-age', '--dir']));
    expect(offered).not.toContain('--policy');
  });

  it('offers the policy names after -p', ({ box }) => {
    expect(bashComplete(box, bashScript(box), ['dcache', 'run', '-p', ''])).toEqual(expect.arrayContaining(POLICY_NAMES));
  });

  it('completes a policy name after --policy from its first letters', ({ box }) => {
    expect(bashComplete(box, bashScript(box), ['dcache', 'status', '--policy', 'we'])).toEqual(['weekly']);
  });

  it('offers the shells after completion', ({ box }) => {
    expect(bashComplete(box, bashScript(box), ['dcache', 'completion', ''])).toEqual(['bash', 'fish', 'zsh']);
  });

  it('completes command names after --', ({ box }) => {
    expect(bashComplete(box, bashScript(box), ['dcache', 'run', '-o', 'x.csv', '--', 'printen'])).toContain('printenv');
  });
});

// What an interactive bash on a terminal ends up running after the keys
// `typed` (TAB included) and Enter: dcache is a shell function there that
// prints its arguments, each followed by |, so each line shows what
// completion made of it, word by word.
// `fakecmd` has a completion of its own (alpha, beta), as a command with
// bash-completion's scripts would.
function bashTyped(box: Sandbox, script: string, typed: string[], { bashCompletion }: { bashCompletion: boolean }): string[] {
  const rc = box.path('bashrc');
  writeFileSync(
    rc,
    [
      bashCompletion ? 'source /usr/share/bash-completion/bash_completion' : '',
      `source '${script}'`,
      "complete -W 'alpha beta' fakecmd",
      `dcache() { printf 'ARGS:'; printf '%s|' "$@"; printf '\\n'; }`,
      "PS1='$ '",
      '',
    ].join('\n'),
  );
  const input = `${typed.map((line) => `${line}\n`).join('')}exit\n`;
  const r = spawnSync('script', ['-qec', `bash --rcfile '${rc}' -i`, '/dev/null'], { cwd: box.root, input, encoding: 'utf8', timeout: 30_000 });
  return r.stdout
    .split('\n')
    .filter((line) => line.includes('ARGS:'))
    .map((line) => line.slice(line.indexOf('ARGS:') + 5).replace(/\r$/, ''));
}

// a wrapped command's files, for the command word and its arguments
function someFiles(box: Sandbox): void {
  writeFileSync(box.path('fetch-data.sh'), '');
  writeFileSync(box.path('notes.txt'), '');
}

describe('dcache completion bash, in an interactive bash', () => {
  it("completes after the command word with the command's own completion, where bash-completion is loaded", ({ box }) => {
    const ran = bashTyped(box, bashScript(box), ['dcache run -p daily fakecmd al\t', 'dcache run fakecmd al\t', 'dcache clear -- fakecmd be\t'], { bashCompletion: true });
    expect(ran).toEqual(['run|-p|daily|fakecmd|alpha|', 'run|fakecmd|alpha|', 'clear|--|fakecmd|beta|']);
  });

  it('completes the command word to a file or a command, and files after it, without bash-completion', ({ box }) => {
    someFiles(box);
    writeFileSync(box.path('my notes.txt'), '');
    const typed = ['dcache run ./fet\t', 'dcache run cat no\t', 'dcache run printen\t', 'dcache run -o my\t', 'dcache run cat my\t'];
    const ran = bashTyped(box, bashScript(box), typed, { bashCompletion: false });
    expect(ran).toEqual(['run|./fetch-data.sh|', 'run|cat|notes.txt|', 'run|printenv|', 'run|-o|my notes.txt|', 'run|cat|my notes.txt|']);
  });

  it('offers no file name for a value it cannot list (a duration)', ({ box }) => {
    someFiles(box);
    const ran = bashTyped(box, bashScript(box), ['dcache run --watch-timeout fet\t'], { bashCompletion: false });
    expect(ran).toEqual(['run|--watch-timeout|fet|']);
  });

  it('completes a watched source to a file or to the start of a cloud or http URL, with no space after a URL', ({ box }) => {
    someFiles(box);
    const typed = ['dcache run -w s3\tbucket/key -- true', 'dcache run --watch a\tcontainer/ -- true', 'dcache run -w note\t-- true'];
    const ran = bashTyped(box, bashScript(box), typed, { bashCompletion: true });
    expect(ran).toEqual(['run|-w|s3://bucket/key|--|true|', 'run|--watch|az://container/|--|true|', 'run|-w|notes.txt|--|true|']);
  });

  it('completes --policy= and --tz values, and options before the command', ({ box }) => {
    const typed = ['dcache run --policy=wee\t', 'dcache run --tz Asia/Kolk\t', 'dcache run --tz=Europe/Pari\t', 'dcache run --no-cw\t'];
    const ran = bashTyped(box, bashScript(box), typed, { bashCompletion: true });
    expect(ran).toEqual(['run|--policy=weekly|', 'run|--tz|Asia/Kolkata|', 'run|--tz=Europe/Paris|', 'run|--no-cwd|']);
  });
});

describe('dcache completion bash, its words', () => {
  it('offers every time zone after --tz', ({ box }) => {
    const zones = bashComplete(box, bashScript(box), ['dcache', 'run', '--tz', '']);
    expect(zones).toEqual(expect.arrayContaining(['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata']));
  });

  it('offers files and the URLs that can be watched after -w', ({ box }) => {
    someFiles(box);
    expect(bashComplete(box, bashScript(box), ['dcache', 'run', '-w', ''])).toEqual(
      expect.arrayContaining(['fetch-data.sh', 'notes.txt', 's3://', 'gs://', 'az://', 'https://', 'http://']),
    );
    expect(bashComplete(box, bashScript(box), ['dcache', 'status', '--watch', 'g'])).toEqual(['gs://']);
  });

  it('offers the names of environment variables after -e', ({ box }) => {
    expect(bashComplete(box, bashScript(box), ['dcache', 'run', '-e', 'HOM'])).toEqual(['HOME']);
  });

  it('offers no dcache option once the command has begun', ({ box }) => {
    writeFileSync(box.path('--pony'), '');
    expect(bashComplete(box, bashScript(box), ['dcache', 'run', 'ls', '--po'])).toEqual(['--pony']);
  });
});

// What zsh's completion system offers for `line` (TAB at its end), with the
// zsh script sourced after compinit, as ~/.zshrc would; `setup` is run
// after it.
const ZSH_COMPLETE = fileURLToPath(new URL('../support/zsh-complete.zsh', import.meta.url));
function zshComplete(box: Sandbox, line: string, setup = ''): string[] {
  const path = box.path('dcache.zsh');
  writeFileSync(path, box.dcache(['completion', 'zsh']).stdout);
  const r = spawnSync('zsh', ['-f', ZSH_COMPLETE, path, line, setup], { cwd: box.root, env: box.env, encoding: 'utf8', timeout: 30_000 });
  expect(r.status).toBe(0);
  return [...new Set(r.stdout.split(/\r?\n/).filter(Boolean))].sort();
}

describe('dcache completion zsh', () => {
  it('prints a script that zsh parses, to source after compinit or to keep in $fpath, and exits 0', ({ box }) => {
    const r = box.dcache(['completion', 'zsh']);
    const script = r.stdout.toString();
    expect(script.split('\n')[0]).toBe('#compdef dcache');
    const check = spawnSync('zsh', ['-n'], { input: script, encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('does not run compinit itself, and says what to do when it was not run', ({ box }) => {
    const script = box.dcache(['completion', 'zsh']).stdout.toString();
    const code = script.split('\n').filter((line) => !/^\s*#/.test(line) && !line.includes('print -u2'));
    expect(code.filter((line) => /\bcompinit\b/.test(line))).toEqual([]);
    const path = box.path('dcache.zsh');
    writeFileSync(path, script);
    const r = spawnSync('zsh', ['-f', '-c', `source '${path}'; print sourced`], { encoding: 'utf8' });
    expect(r.stdout).toBe('sourced\n');
    expect(r.stderr).toMatch(/^dcache completion: .*compinit.*\n$/);
  });

  it('works as an autoloaded function from $fpath', ({ box }) => {
    mkdirSync(box.path('functions'));
    writeFileSync(box.path('functions/_dcache'), box.dcache(['completion', 'zsh']).stdout);
    writeFileSync(box.path('empty.zsh'), '');
    const setup = `fpath=('${box.path('functions')}' $fpath); compinit -u -D`;
    const r = spawnSync('zsh', ['-f', ZSH_COMPLETE, box.path('empty.zsh'), 'dcache run --polic', setup], { cwd: box.root, encoding: 'utf8', timeout: 30_000 });
    expect(r.stdout.split(/\r?\n/).filter(Boolean)).toEqual(['--policy']);
  });

  it('names every subcommand and every policy', ({ box }) => {
    const script = box.dcache(['completion', 'zsh']).stdout.toString();
    for (const name of SUBCOMMANDS) expect(script).toMatch(new RegExp(`'${name}:`));
    for (const name of POLICY_NAMES) expect(script).toContain(name.replace(':', '\\:'));
  });

  it('completes subcommands, options, and the values of --policy, --policy= and --tz', ({ box }) => {
    expect(zshComplete(box, 'dcache ru')).toEqual(['run']);
    expect(zshComplete(box, 'dcache run --po')).toEqual(['--policy']);
    expect(zshComplete(box, 'dcache run --policy=we')).toEqual(['--policy=weekly']);
    expect(zshComplete(box, 'dcache run -p da')).toEqual(['daily', 'daily@06:00']);
    expect(zshComplete(box, 'dcache run --tz Asia/Kolk')).toEqual(['Asia/Kolkata']);
    expect(zshComplete(box, 'dcache completion ')).toEqual(['bash', 'fish', 'zsh']);
  });

  it('offers files and the URLs that can be watched for a watched source', ({ box }) => {
    someFiles(box);
    expect(zshComplete(box, 'dcache run -w ')).toEqual(expect.arrayContaining(['fetch-data.sh', 'notes.txt', 's3://', 'gs://', 'az://', 'https://', 'http://']));
    expect(zshComplete(box, 'dcache run --watch=s')).toEqual(['--watch=s3://']);
  });

  it("completes the command word, then the command's own arguments, with or without --", ({ box }) => {
    someFiles(box);
    expect(zshComplete(box, 'dcache run printen')).toContain('printenv');
    expect(zshComplete(box, 'dcache run ./fet')).toEqual(['./fetch-data.sh']);
    expect(zshComplete(box, 'dcache run cat no')).toEqual(['notes.txt']);
    const fake = "compdef '_values word alpha beta' fakecmd";
    expect(zshComplete(box, 'dcache run -p daily fakecmd al', fake)).toEqual(['alpha']);
    expect(zshComplete(box, 'dcache run -o x -- fakecmd be', fake)).toEqual(['beta']);
  });
});

// What fish offers for `line`, with the fish script loaded.
function fishComplete(box: Sandbox, line: string): string[] {
  const path = box.path('dcache.fish');
  writeFileSync(path, box.dcache(['completion', 'fish']).stdout);
  const program = `source '${path}'; complete -c fakecmd -f -a 'alpha beta'; complete -C '${line}'`;
  const r = spawnSync('fish', ['--no-config', '-c', program], { cwd: box.root, env: box.env, encoding: 'utf8', timeout: 30_000 });
  expect(r.stderr).toBe('');
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[0]!)
    .sort();
}

describe('dcache completion fish, in fish', () => {
  it('completes subcommands, options, and the values of --policy, --policy= and --tz', ({ box }) => {
    expect(fishComplete(box, 'dcache ru')).toEqual(['run']);
    expect(fishComplete(box, 'dcache run --po')).toEqual(['--policy']);
    expect(fishComplete(box, 'dcache run --policy=we')).toEqual(['--policy=weekly']);
    expect(fishComplete(box, 'dcache run -p da')).toEqual(['daily', 'daily@06:00']);
    expect(fishComplete(box, 'dcache run --tz Asia/Kolk')).toEqual(['Asia/Kolkata']);
  });

  it('offers only the values an option takes: policies, not file names; nothing for a duration', ({ box }) => {
    someFiles(box);
    expect(fishComplete(box, 'dcache run -p ')).toEqual(['cron:', 'daily', 'daily@06:00', 'forever', 'hourly', 'monthly', 'ttl:', 'weekly']);
    expect(fishComplete(box, 'dcache run --watch-timeout ')).toEqual([]);
    expect(fishComplete(box, 'dcache run -o ')).toEqual(['dcache.fish', 'fetch-data.sh', 'notes.txt']);
    expect(fishComplete(box, 'dcache run -w ')).toEqual(['az://', 'dcache.fish', 'fetch-data.sh', 'gs://', 'http://', 'https://', 'notes.txt', 's3://']);
  });

  it("completes the command word, then the command's own arguments, with or without --", ({ box }) => {
    someFiles(box);
    expect(fishComplete(box, 'dcache run printen')).toContain('printenv');
    expect(fishComplete(box, 'dcache run ./fet')).toEqual(['./fetch-data.sh']);
    expect(fishComplete(box, 'dcache run cat no')).toEqual(['notes.txt']);
    expect(fishComplete(box, 'dcache run -p daily fakecmd al')).toEqual(['alpha']);
    expect(fishComplete(box, 'dcache run -o x -- fakecmd be')).toEqual(['beta']);
    expect(fishComplete(box, 'dcache run fakecmd --')).toEqual([]);
  });
});

describe('dcache completion fish', () => {
  it('prints complete commands for dcache and exits 0', ({ box }) => {
    const r = box.dcache(['completion', 'fish']);
    // outside the two helper functions, every line is a complete command
    const lines = r.stdout.toString().replace(/^function [^]*?^end\n/gm, '').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.every((line) => line.startsWith('complete -c dcache '))).toBe(true);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('offers every subcommand before one is given', ({ box }) => {
    const script = box.dcache(['completion', 'fish']).stdout.toString();
    for (const name of SUBCOMMANDS) {
      expect(script).toMatch(new RegExp(`^complete -c dcache -n __fish_use_subcommand -a ${name} `, 'm'));
    }
  });

  it('offers the policy names for --policy of run', ({ box }) => {
    const script = box.dcache(['completion', 'fish']).stdout.toString();
    const line = script.split('\n').find((l) => l.includes('__fish_seen_subcommand_from run') && l.includes('-l policy'));
    for (const name of POLICY_NAMES) expect(line).toContain(name);
  });
});

describe('dcache completion with a shell it does not know', () => {
  it('names the shell and the shells it knows on stderr and exits 2', ({ box }) => {
    const r = box.dcache(['completion', 'tcsh']);
    expect(r.stdout.toString()).toBe('');
    expect(plain(r.stderr)).toMatch(/^dcache: .*'tcsh'.*bash, zsh or fish\n$/);
    expect(r.code).toBe(2);
  });
});
