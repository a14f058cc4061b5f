import { readFileSync } from 'node:fs';
import { ExitError } from '../core/errors.js';

// What a completion script needs to know of the command line: taken from
// the commander program itself, so it cannot drift from the real options.
export interface CompletionSpec {
  commands: Array<{
    name: string;
    description: string;
    // run, warm, status: options, then the command and its arguments
    takesCommand: boolean;
    options: Array<{ short?: string; long: string; takesValue: boolean; repeatable: boolean; description: string }>;
  }>;
}

export const POLICY_WORDS = ['daily', 'daily@06:00', 'hourly', 'weekly', 'monthly', 'cron:', 'ttl:', 'forever'];
const FILE_OPTIONS = ['--dir', '--output', '--signing-key-file'];
// What a watched source may start with besides a file name: the URLs --watch takes.
export const WATCH_SCHEMES = ['s3://', 'gs://', 'az://', 'https://', 'http://'];

// The IANA zones --tz takes: the ones this Node lists, which keep some
// old names (Asia/Calcutta), and the system's zone.tab, which has today's
// (Asia/Kolkata), where it has one.
function zones(): string[] {
  const names = new Set([...Intl.supportedValuesOf('timeZone'), 'UTC']);
  try {
    for (const line of readFileSync('/usr/share/zoneinfo/zone.tab', 'utf8').split('\n')) {
      const name = line.startsWith('#') ? undefined : line.split('\t')[2];
      if (name && acceptsZone(name)) names.add(name);
    }
  } catch {
    // no tzdata: Node's own list
  }
  return [...names].sort();
}

function acceptsZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

// What the value of an option is, for completing it.
type ValueKind = 'policy' | 'zone' | 'file' | 'source' | 'variable' | 'none';

function valueKind(long: string): ValueKind {
  if (long === '--policy') return 'policy';
  if (long === '--tz') return 'zone';
  if (long === '--env') return 'variable';
  if (long === '--watch') return 'source';
  if (FILE_OPTIONS.includes(long)) return 'file';
  return 'none';
}

// dcache completion bash|zsh|fish: prints a completion script.
export function completionScript(shell: string, spec: CompletionSpec): string {
  switch (shell) {
    case 'bash':
      return bash(spec);
    case 'zsh':
      return zsh(spec);
    case 'fish':
      return fish(spec);
    default:
      throw new ExitError(`completion: '${shell}' is not a shell dcache knows; use bash, zsh or fish`, 2);
  }
}

// The option words (-p, --policy) that take a value, of every command.
function valued(spec: CompletionSpec): string[] {
  const words = new Set<string>();
  for (const c of spec.commands) {
    for (const o of c.options) {
      if (!o.takesValue) continue;
      words.add(o.long);
      if (o.short) words.add(o.short);
    }
  }
  return [...words].sort();
}

function optionWords(spec: CompletionSpec, kind: ValueKind): string[] {
  const words = new Set<string>();
  for (const c of spec.commands) {
    for (const o of c.options) {
      if (!o.takesValue || valueKind(o.long) !== kind) continue;
      words.add(o.long);
      if (o.short) words.add(o.short);
    }
  }
  return [...words].sort();
}

function bash(spec: CompletionSpec): string {
  const names = spec.commands.map((c) => c.name).join(' ');
  const cases = spec.commands
    .map((c) => {
      const words = c.options.flatMap((o) => [o.long, ...(o.short ? [o.short] : [])]).join(' ');
      return `    ${c.name}) opts="${words}" ;;`;
    })
    .join('\n');
  const withCommand = spec.commands.filter((c) => c.takesCommand).map((c) => c.name);
  const pattern = (kind: ValueKind) => optionWords(spec, kind).join('|') || '--none';
  return `# dcache completion for bash: source it, or put it in /etc/bash_completion.d/dcache
_dcache_zones="${zones().join(' ')}"
# file names, one a line (a name may hold spaces), quoted as bash quotes them
_dcache_files() {
  compopt -o filenames 2>/dev/null
  mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
# a watched source: a file name, or the start of a URL (s3://, gs://, az://,
# http(s)://), after which no space is added
_dcache_sources() {
  local scheme
  _dcache_files
  for scheme in ${WATCH_SCHEMES.join(' ')}; do
    if [[ "$scheme" == "$cur"* ]]; then COMPREPLY+=("$scheme"); compopt -o nospace 2>/dev/null; fi
  done
}
_dcache() {
  local cur prev opts opt w i start=0 valued=" ${valued(spec).join(' ')} "
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "${names} --help --version" -- "$cur"))
    return
  fi
  # Where the wrapped command starts: run, warm and status read options up
  # to the first word that is not one (or up to --); clear, after --. Bash
  # splits --policy=daily into --policy, =, daily.
  case "\${COMP_WORDS[1]}" in
    ${withCommand.join('|')})
      for ((i = 2; i < COMP_CWORD; i++)); do
        w="\${COMP_WORDS[i]}"
        if [[ "$w" == "--" ]]; then start=$((i + 1)); break; fi
        if [[ "$w" != -* ]]; then start=$i; break; fi
        if [[ "\${COMP_WORDS[i+1]}" == "=" ]]; then ((i += 2)); elif [[ "$valued" == *" $w "* ]]; then ((i++)); fi
      done
      # the word being completed is the command itself, if it is no option
      if ((start == 0 && COMP_CWORD == i)) && [[ "$cur" != -* ]]; then start=$i; fi
      ;;
    clear)
      for ((i = 2; i < COMP_CWORD; i++)); do
        if [[ "\${COMP_WORDS[i]}" == "--" ]]; then start=$((i + 1)); break; fi
      done
      ;;
  esac
  if ((start > 0 && COMP_CWORD >= start)); then
    # the command's own completion, where bash-completion is loaded
    if declare -F _comp_command_offset >/dev/null; then _comp_command_offset "$start"; return; fi
    if declare -F _command_offset >/dev/null; then _command_offset "$start"; return; fi
    if ((COMP_CWORD == start)) && [[ "$cur" != */* ]]; then
      COMPREPLY=($(compgen -c -- "$cur"))
    else
      _dcache_files
    fi
    return
  fi
  # the option whose value this word is: -p x, --policy x, --policy=x
  opt=""
  if [[ "$cur" == "=" ]]; then
    opt="$prev"; cur=""
  elif [[ "$prev" == "=" ]]; then
    opt="\${COMP_WORDS[COMP_CWORD-2]}"
  elif [[ "$valued" == *" $prev "* ]]; then
    opt="$prev"
  fi
  case "$opt" in
    "") ;;
    ${pattern('policy')}) COMPREPLY=($(compgen -W "${POLICY_WORDS.join(' ')}" -- "$cur")); return ;;
    ${pattern('zone')}) COMPREPLY=($(compgen -W "$_dcache_zones" -- "$cur")); return ;;
    ${pattern('file')}) _dcache_files; return ;;
    ${pattern('source')}) _dcache_sources; return ;;
    ${pattern('variable')}) COMPREPLY=($(compgen -e -- "$cur")); return ;;
    # a value dcache cannot list (a duration, a URL): nothing, not file names
    *) compopt +o default 2>/dev/null; return ;;
  esac
  if [[ "\${COMP_WORDS[1]}" == completion ]]; then
    COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur"))
    return
  fi
  opts=""
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
}
complete -o default -F _dcache dcache
`;
}

// A native zsh completion (_arguments), for zsh's own completion system:
// source it after compinit has run, or save it as _dcache in a directory
// of $fpath. It does not run compinit itself, which ~/.zshrc already does
// (a second compinit slows every shell's start).
function zsh(spec: CompletionSpec): string {
  const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
  const describe = (text: string) => text.replace(/[[\]]/g, (c) => (c === '[' ? '(' : ')')).replaceAll(':', '\\:');
  const action = (long: string): string => {
    switch (valueKind(long)) {
      case 'policy':
        return `(${POLICY_WORDS.map((w) => w.replaceAll(':', '\\:')).join(' ')})`;
      case 'zone':
        return '_dcache_zones';
      case 'source':
        return '_dcache_sources';
      case 'file':
        return long === '--dir' ? '_files -/' : '_files';
      case 'variable':
        return '_parameters -g "*export*"';
      default:
        return ' ';
    }
  };
  const specs = (c: CompletionSpec['commands'][number]): string[] => {
    const out: string[] = [];
    for (const o of c.options) {
      const text = describe(o.description);
      const many = o.repeatable ? '*' : '';
      const value = (label: string) => `:${label.replace(/^--/, '')}:${action(o.long)}`;
      out.push(quote(`${many}${o.long}${o.takesValue ? '=' : ''}[${text}]${o.takesValue ? value(o.long) : ''}`));
      if (o.short) out.push(quote(`${many}${o.short}${o.takesValue ? '+' : ''}[${text}]${o.takesValue ? value(o.long) : ''}`));
    }
    out.push(quote('--help[show help]'));
    if (c.takesCommand) {
      out.push(quote('(-)1:command:_command_names -e'), quote('*::arguments:_normal'));
    } else if (c.name === 'completion') {
      out.push(quote('1:shell:(bash zsh fish)'));
    } else if (c.name === 'clear') {
      out.push(quote('*::selector: '));
    }
    return out;
  };
  const subcommands = spec.commands.map((c) => `    ${quote(`${c.name}:${c.description.replaceAll(':', '\\:')}`)}`).join('\n');
  const cases = spec.commands
    .map((c) => `    ${c.name})\n      _arguments -s -S${c.takesCommand ? " -A '-*'" : ''} : \\\n        ${specs(c).join(' \\\n        ')}\n      ;;`)
    .join('\n');
  return `#compdef dcache
# dcache completion for zsh: add  source <(dcache completion zsh)  to ~/.zshrc,
# after compinit; or save it as _dcache in a directory of $fpath.

_dcache_zones() {
  local -a zones
  zones=(${zones().join(' ')})
  _describe -t zones 'time zone' zones
}

# a watched source: a file, or the start of a URL, with no space after it
_dcache_url_schemes() {
  compadd -S '' -- ${WATCH_SCHEMES.join(' ')}
}
_dcache_sources() {
  _alternative 'files:file:_files' 'urls:URL:_dcache_url_schemes'
}

_dcache() {
  local -a subcommands
  subcommands=(
${subcommands}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'dcache command' subcommands
    return
  fi
  local sub=$words[2]
  shift words
  (( CURRENT-- ))
  case $sub in
${cases}
  esac
}

if [[ $funcstack[1] == _dcache ]]; then
  _dcache "$@"
elif (( $+functions[compdef] )); then
  compdef _dcache dcache
else
  print -u2 'dcache completion: zsh completion is not set up; run compinit first (autoload -Uz compinit && compinit in ~/.zshrc)'
fi
`;
}

function fish(spec: CompletionSpec): string {
  const withCommand = spec.commands.filter((c) => c.takesCommand).map((c) => c.name);
  const lines = [
    '# dcache completion for fish: save as ~/.config/fish/completions/dcache.fish',
    '',
    '# The words of the wrapped command (run, warm, status), once it has begun:',
    "# dcache's options come first, up to the first word that is not one, or --.",
    'function __dcache_command_words',
    '    set -l tokens (commandline -opc)',
    `    contains -- "$tokens[2]" ${withCommand.join(' ')}; or return 1`,
    `    set -l valued ${valued(spec).join(' ')}`,
    '    set -l i 3',
    '    while test $i -le (count $tokens)',
    '        set -l w $tokens[$i]',
    '        if test "$w" = --',
    '            set i (math $i + 1)',
    '            break',
    '        end',
    "        string match -q -- '-*' $w; or break",
    '        contains -- $w $valued; and set i (math $i + 1)',
    '        set i (math $i + 1)',
    '    end',
    '    test $i -le (count $tokens); or return 1',
    '    printf "%s\\n" $tokens[$i..-1]',
    'end',
    '',
    '# Whether the word being completed is the value of an option of dcache.',
    'function __dcache_value_wanted',
    '    set -l tokens (commandline -opc)',
    `    contains -- "$tokens[-1]" ${valued(spec).join(' ')}`,
    'end',
    '',
    "# The wrapped command's own completions, as fish gives them for it alone.",
    'function __dcache_complete_command',
    '    set -l words (__dcache_command_words)',
    '    complete -C (string join -- " " (string escape -- $words) (commandline -ct))',
    'end',
    '',
    'complete -c dcache -f',
    ...spec.commands.map((c) => `complete -c dcache -n __fish_use_subcommand -a ${c.name} -d ${quote(c.description)}`),
    `complete -c dcache -n '__fish_seen_subcommand_from ${withCommand.join(' ')}; and not __dcache_command_words >/dev/null; and not __dcache_value_wanted; and not string match -q -- "-*" (commandline -ct)' -F -a '(__fish_complete_command)'`,
    `complete -c dcache -n '__dcache_command_words >/dev/null' -x -a '(__dcache_complete_command)'`,
  ];
  for (const c of spec.commands) {
    const when = c.takesCommand ? `__fish_seen_subcommand_from ${c.name}; and not __dcache_command_words >/dev/null` : `__fish_seen_subcommand_from ${c.name}`;
    for (const o of c.options) {
      const parts = [`complete -c dcache -n ${quote(when)}`, `-l ${o.long.replace(/^--/, '')}`];
      if (o.short) parts.push(`-s ${o.short.replace(/^-/, '')}`);
      // -x: a value, and no file names for it (-r alone would offer them)
      if (o.takesValue) parts.push(valueKind(o.long) === 'file' || valueKind(o.long) === 'source' ? '-r' : '-x');
      switch (valueKind(o.long)) {
        case 'policy':
          parts.push(`-a ${quote(POLICY_WORDS.join(' '))}`);
          break;
        case 'zone':
          parts.push(`-a ${quote(zones().join(' '))}`);
          break;
        case 'file':
          parts.push('-F');
          break;
        case 'source':
          parts.push('-F', `-a ${quote(WATCH_SCHEMES.join(' '))}`);
          break;
        case 'variable':
          parts.push(`-a '(set -xn)'`);
          break;
      }
      parts.push(`-d ${quote(o.description)}`);
      lines.push(parts.join(' '));
    }
  }
  lines.push(`complete -c dcache -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'`);
  return `${lines.join('\n')}\n`;
}

function quote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}
