#!/usr/bin/env bash
# Builds and runs the cortex-m0 suite under QEMU; see run-suite.sh.
exec "$(dirname "$0")/run-suite.sh" cortex-m0 "$@"
