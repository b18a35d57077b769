#!/usr/bin/env bash
# qemu-compare.sh - run every guest in QEMU and compare with its expected.txt (exact console
# output) and expected.json (exit status: qemuExitStatus if present, else exitStatus; a triple
# fault under -no-reboot exits QEMU with 0). expected.json's "kind" picks the runner: boot-sector
# (the default) qemu-run.sh, multiboot qemu-kernel-run.sh with "cpus" vCPUs; other kinds are not
# this script's and are skipped. One line per guest, then a summary; exit status 1 if any differs.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pass=0
fail=0
for dir in "$here"/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/$name.img" ] && [ -f "$dir/expected.txt" ] && [ -f "$dir/expected.json" ] || continue
  read -r kind cpus want_status < <(node -e '
    const e = require(process.argv[1]);
    console.log(e.kind ?? "boot-sector", e.cpus ?? 1, e.qemuExitStatus ?? e.exitStatus)' "$dir/expected.json")
  got="$(mktemp)"
  case "$kind" in
    boot-sector) "$here/qemu-run.sh" "$dir/$name.img" >"$got" ;;
    multiboot) "$here/qemu-kernel-run.sh" "$dir/$name.img" "$cpus" >"$got" ;;
    *)
      echo "skip $name (kind $kind)"
      rm -f "$got"
      continue
      ;;
  esac
  status=$?
  if ! cmp -s "$got" "$dir/expected.txt"; then
    echo "FAIL $name: output differs from expected.txt:"
    diff "$dir/expected.txt" "$got" | sed 's/^/    /'
    fail=$((fail + 1))
  elif [ "$status" != "$want_status" ]; then
    echo "FAIL $name: exit status $status, expected $want_status"
    fail=$((fail + 1))
  else
    echo "ok   $name (exit status $status, $(wc -l <"$got") lines)"
    pass=$((pass + 1))
  fi
  rm -f "$got"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
