#!/usr/bin/zsh -f
# What zsh's completion system offers for a command line: an interactive
# zsh in a pseudo-terminal (zpty), compinit run, the completion script
# sourced, compadd wrapped to print each match, and TAB pressed at the end
# of the line. Usage: zsh -f zsh-complete.zsh SCRIPT LINE [SETUP]
# (SETUP: more lines for that zsh, e.g. a completion for another command).
# The markers are written in two halves so that zsh's echo of the
# definitions is not taken for them.
zmodload zsh/zpty
zpty z zsh -f -i
local line
zpty -w z "autoload -Uz compinit && compinit -u -D"
zpty -w z "source ${(q)1}"
[[ -n $3 ]] && zpty -w z "$3"
zpty -w z "zstyle ':completion:*' list-grouped false"
zpty -w z "zstyle ':completion:*' insert-tab false"
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits
  builtin compadd -A __hits "$@"
  setopt localoptions norcexpandparam extendedglob
  typeset -A apre hpre hsuf asuf
  zparseopts -E P:=apre p:=hpre S:=asuf s:=hsuf
  [[ -n $__hits ]] || return
  local h
  for h in $__hits; do echo -E - "MA""TCH:$IPREFIX$apre$hpre$h"; done
}'
zpty -w z "bindkey '^I' complete-word"
zpty -w z 'end-of-list () { echo -E - END""-OF-LIST }'
zpty -w z "comppostfuncs=( end-of-list exit )"
zpty -n -w z "$2"$'\t'
while zpty -r z line; do
  [[ $line == *END-OF-LIST* ]] && break
  [[ $line == *MATCH:* ]] && print -r -- "${${line#*MATCH:}%$'\r'}"
done
zpty -d z
