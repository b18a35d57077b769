#!/usr/bin/env bash
# build.sh - assemble every guest guests/<name>/<name>.asm into guests/<name>/<name>.img
# and the QEMU BIOS stub into guests/qemu/bios-stub.bin (all committed, so the tests need no nasm
# and write nothing into the tree).
# Needs nasm (apt-get install -y nasm).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

nasm -f bin -o "$here/qemu/bios-stub.bin" "$here/qemu/bios-stub.asm"

for dir in "$here"/*/; do
  name="$(basename "$dir")"
  src="$dir/$name.asm"
  [ -f "$src" ] || continue          # lib/ and qemu/ are not guests
  nasm -f bin -w+all -i "$here/lib/" -i "$dir" -o "$dir/$name.img" "$src"
  echo "built guests/$name/$name.img ($(stat -c %s "$dir/$name.img") bytes)"
done
