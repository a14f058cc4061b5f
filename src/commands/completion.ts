import { ExitError } from '../errors.js';

// What a completion script needs to know of the command line: taken from
// the commander program itself, so it cannot drift from the real options.
export interface CompletionSpec {
  commands: Array<{ name: string; description: string; options: Array<{ short?: string; long: string; takesValue: boolean }> }>;
}

export const POLICY_WORDS = ['daily', 'daily@06:00', 'hourly', 'weekly', 'monthly', 'cron:', 'ttl:', 'forever'];
const FILE_OPTIONS = ['--dir', '--output', '--watch'];

// dcache completion bash|zsh|fish: prints a completion script.
export function completionScript(shell: string, spec: CompletionSpec): string {
  switch (shell) {
    case 'bash':
      return bash(spec);
    case 'zsh':
      // zsh runs the bash script through its bash completion layer; source
      // it from ~/.zshrc (as an autoloaded fpath function it would only
      // register itself on the first TAB).
      return `# dcache completion for zsh: add  source <(dcache completion zsh)  to ~/.zshrc\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n${bash(spec).replace(/^# dcache completion for bash.*\n/, '')}`;
    case 'fish':
      return fish(spec);
    default:
      throw new ExitError(`completion: '${shell}' is not a shell dcache knows; use bash, zsh or fish`, 2);
  }
}

function bash(spec: CompletionSpec): string {
  const names = spec.commands.map((c) => c.name).join(' ');
  const cases = spec.commands
    .map((c) => {
      const words = c.options.flatMap((o) => [o.long, ...(o.short ? [o.short] : [])]).join(' ');
      return `    ${c.name}) opts="${words}" ;;`;
    })
    .join('\n');
  const fileOptions = FILE_OPTIONS.map((o) => o).join('|');
  return `# dcache completion for bash: source it, or put it in /etc/bash_completion.d/dcache
_dcache() {
  local cur prev opts i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    if [[ "\${COMP_WORDS[i]}" == "--" ]]; then
      COMPREPLY=($(compgen -c -- "$cur"))
      return
    fi
  done
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "${names} --help --version" -- "$cur"))
    return
  fi
  case "$prev" in
    -p|--policy) COMPREPLY=($(compgen -W "${POLICY_WORDS.join(' ')}" -- "$cur")); return ;;
    -o|-w|${fileOptions}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return ;;
  esac
  opts=""
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
}
complete -o default -F _dcache dcache
`;
}

function fish(spec: CompletionSpec): string {
  const lines = [
    '# dcache completion for fish: save as ~/.config/fish/completions/dcache.fish',
    'complete -c dcache -f',
    ...spec.commands.map(
      (c) => `complete -c dcache -n __fish_use_subcommand -a ${c.name} -d ${quote(c.description)}`,
    ),
  ];
  for (const c of spec.commands) {
    for (const o of c.options) {
      const parts = [`complete -c dcache -n '__fish_seen_subcommand_from ${c.name}'`, `-l ${o.long.replace(/^--/, '')}`];
      if (o.short) parts.push(`-s ${o.short.replace(/^-/, '')}`);
      if (o.takesValue) parts.push('-r');
      if (o.long === '--policy') parts.push(`-a ${quote(POLICY_WORDS.join(' '))}`);
      if (FILE_OPTIONS.includes(o.long)) parts.push('-F');
      lines.push(parts.join(' '));
    }
  }
  lines.push(`complete -c dcache -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'`);
  return `${lines.join('\n')}\n`;
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "\\'")}'`;
}
