#!/usr/bin/env bash
# qemu-kernel-run.sh IMG [CPUS [APPEND]] - run a Multiboot guest in QEMU the way hvemu runs it:
# qemu-system-x86_64 -accel tcg -smp CPUS (default 1) -m 64 -kernel IMG -append APPEND, with
# QEMU's own firmware (SeaBIOS and its Multiboot option ROM) loading the kernel, and the test
# devices hvemu's PC always has (isa-debug-exit, pc-testdev). Prints what the guest writes to COM1
# (-serial) on stdout and exits with QEMU's status, which is (V << 1) | 1 when the guest wrote V
# to port 0xF4 (isa-debug-exit). QEMU_TIMEOUT (seconds, default 60) bounds a run.
set -euo pipefail
img="${1:?usage: qemu-kernel-run.sh IMG [CPUS [APPEND]]}"
cpus="${2:-1}"
append="${3:-}"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
status=0
timeout "${QEMU_TIMEOUT:-60}" qemu-system-x86_64 -accel tcg -display none -nodefaults -no-reboot \
  -m 64 -smp "$cpus,sockets=$cpus,cores=1,threads=1" \
  -kernel "$img" -append "$append" \
  -serial "file:$out" \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 -device pc-testdev || status=$?
cat "$out"
exit "$status"
