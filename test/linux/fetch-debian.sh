#!/usr/bin/env bash
# fetch-debian.sh [DIR] - Debian's own kernel and a static busybox, from Debian's archive, into DIR
# (default build/debian, git-ignored): DIR/vmlinuz (linux-image-amd64's bzImage) and DIR/busybox.
# The Linux guest tests and bench use them; they skip, saying why, when this has not been run.
set -euo pipefail
dir="${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/debian}"
mkdir -p "$dir"
cd "$dir"
if [ -s vmlinuz ] && [ -s busybox ]; then exit 0; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The package lists may be empty on a new machine.
apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq
# linux-image-amd64 is a metapackage: the real one is its dependency (linux-image-6.1.0-NN-amd64).
kpkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')"
[ -n "$kpkg" ] || { echo "fetch-debian.sh: no linux-image package (run apt-get update?)" >&2; exit 1; }
(cd "$tmp" && apt-get download "$kpkg" busybox-static >/dev/null)
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/x"; done
cp "$tmp"/x/boot/vmlinuz-* vmlinuz.tmp && mv vmlinuz.tmp vmlinuz
cp "$tmp"/x/bin/busybox busybox.tmp && mv busybox.tmp busybox
echo "$kpkg" > kernel-package
echo "fetched $kpkg and busybox-static into $dir"
