#!/usr/bin/env bash
# qemu-run.sh IMG - run a guest image in QEMU (TCG, no firmware) the way hvemu runs it:
# the whole file at physical 0x7C00, started at 0000:7C00 with DL=0x80 by qemu/bios-stub.bin (committed; `npm run guests` rebuilds it).
# Prints the guest's debug-port (0xE9) output on stdout and exits with QEMU's status, which
# is (V << 1) | 1 when the guest wrote V to port 0xF4, and 0 when it triple-faulted
# (-no-reboot turns the reset into a clean exit). QEMU_TIMEOUT (seconds, default 30) bounds a run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
img="${1:?usage: qemu-run.sh IMG}"
bios="$here/qemu/bios-stub.bin"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
timeout "${QEMU_TIMEOUT:-30}" qemu-system-x86_64 -accel tcg -display none -nodefaults -no-reboot -m 64 \
  -bios "$bios" \
  -device "loader,file=$img,addr=0x7c00,force-raw=on" \
  -debugcon "file:$out" \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 || status=$?
cat "$out"
exit "$status"
