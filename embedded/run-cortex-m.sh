#!/usr/bin/env bash
# Builds and runs the cortex-m suite under QEMU; see run-suite.sh.
exec "$(dirname "$0")/run-suite.sh" cortex-m "$@"
