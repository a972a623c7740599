#!/usr/bin/env bash
# Help that tells the truth: every command's --help spells flags one way (dashes, as its usage lines
# do), prints defaults as a user writes them (0.95, not 0.94999999999999996), and lists every flag
# its usage line names.
set -u
HILSIM=$1
fail=0
cmds=$("$HILSIM" --help | awk '/^  [a-z][a-z-]+ /{print $1}')
[[ -n "$cmds" ]] || { echo "FAIL: no commands in hilsim --help"; exit 1; }
for c in $cmds; do
  help=$("$HILSIM" "$c" --help 2>&1) || { echo "FAIL: hilsim $c --help exits $?"; fail=1; continue; }
  flags=$(printf '%s\n' "$help" | sed -n '/^flags/,$p' | grep -E '^  --' || true)
  if printf '%s\n' "$flags" | grep -qE '^  --[a-z0-9-]*_'; then
    echo "FAIL: hilsim $c --help lists a flag with an underscore: $(printf '%s\n' "$flags" | grep -E '^  --[a-z0-9-]*_' | head -1)"
    fail=1
  fi
  if printf '%s\n' "$flags" | grep -qE 'default [0-9]+\.[0-9]{8,}'; then
    echo "FAIL: hilsim $c --help prints a default at full precision"
    fail=1
  fi
  usage=$(printf '%s\n' "$help" | sed '/^$/q')
  for f in $(printf '%s\n' "$usage" | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
    [[ $f == --help ]] && continue
    if ! printf '%s\n' "$flags" | grep -qE -- "^  $f "; then
      echo "FAIL: hilsim $c --help: usage names $f, the flag list does not"
      fail=1
    fi
  done
done
exit $fail
