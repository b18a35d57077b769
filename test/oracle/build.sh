#!/usr/bin/env bash
# Builds the native oracle (test/oracle/bin/oracle, git-ignored). Needs gcc on an x86-64 Linux host.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(uname -m)" != "x86_64" ]; then echo "oracle: host is not x86-64" >&2; exit 1; fi
mkdir -p "$here/bin"
# Built under a temporary name and renamed: a test running in parallel never executes a half-written file.
tmp="$here/bin/oracle.$$.tmp"
gcc -std=gnu11 -O1 -Wall -Wextra -Werror -o "$tmp" "$here/oracle.c"
mv -f "$tmp" "$here/bin/oracle"
