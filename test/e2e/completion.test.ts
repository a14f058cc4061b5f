import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from '../support/fixture.js';
import { plain } from '../support/messages.js';
import type { Sandbox } from '../support/sandbox.js';

// `dcache completion bash|zsh|fish`. The bash script is loaded into a real
// bash and asked for completions the way bash's programmable completion
// asks: COMP_WORDS and COMP_CWORD set, the registered function called.
// zsh and fish need not be installed here, so their scripts are read.

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

describe('dcache completion zsh', () => {
  it("prints a script to source from ~/.zshrc, through zsh's bash completion layer", ({ box }) => {
    const r = box.dcache(['completion', 'zsh']);
    const script = r.stdout.toString();
    expect(script.split('\n')[0]).toBe('# dcache completion for zsh: add  source <(dcache completion zsh)  to ~/.zshrc');
    expect(script).toContain('bashcompinit');
    expect(script).toContain('complete -o default -F _dcache dcache');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('names every subcommand', ({ box }) => {
    const script = box.dcache(['completion', 'zsh']).stdout.toString();
    for (const name of SUBCOMMANDS) expect(script).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it('names every policy', ({ box }) => {
    const script = box.dcache(['completion', 'zsh']).stdout.toString();
    for (const name of POLICY_NAMES) expect(script).toContain(name);
  });
});

describe('dcache completion fish', () => {
  it('prints complete commands for dcache and exits 0', ({ box }) => {
    const r = box.dcache(['completion', 'fish']);
    const lines = r.stdout.toString().split('\n').filter((line) => line !== '' && !line.startsWith('#'));
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
