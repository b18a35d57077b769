#!/usr/bin/env bash
# qemu-run.sh - boot a minios disk image under QEMU (SeaBIOS) with CPUS processors, COM1 on
# stdio (standard input is the shell's input), and print what the guest wrote on COM1 from its
# first line on (SeaBIOS's own messages go to the VGA screen, not shown). The image is copied
# first: the guest's disk writes never reach the committed file. QEMU's -smp N puts N cores in one
# socket, and SeaBIOS's MP table lists one processor per socket, so each CPU gets a socket of its
# own (the topology hvemu's CPUID reports). Exit status: QEMU's (1 after `halt`, isa-debug-exit).
set -euo pipefail
img="${1:?usage: qemu-run.sh IMG [CPUS] < input}"
cpus="${2:-1}"
disk="$(mktemp)"
trap 'rm -f "$disk"' EXIT
cp "$img" "$disk"
status=0
out="$(timeout "${QEMU_TIMEOUT:-60}" qemu-system-i386 -accel tcg -display none -no-reboot -m 64 \
  -smp "$cpus,sockets=$cpus,cores=1,threads=1" \
  -drive "file=$disk,format=raw,if=ide,index=0" \
  -serial stdio \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04)" || status=$?
printf '%s\n' "$out" | sed -n '/^minios: boot sector/,$p'
exit "$status"
