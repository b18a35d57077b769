#!/bin/sh
# `npm start [-- OPTIONS]`: the demo, a 4-vCPU SEV-ES guest; OPTIONS go to `hvemu run` (a later
# --cpus wins). Exits with hvemu's status: 0 when the guest reports success.
node dist/src/cli.js run --sev-es guests/smp-sev-es/smp-sev-es.img --cpus 4 "$@"
s=$?
[ $# -eq 0 ] && echo '(every VM exit, IPI and MP-state change: npm start -- --trace exits,apic,mp)' >&2
exit $s
