#!/usr/bin/env bash
# Builds and runs the riscv suite under QEMU; see run-suite.sh.
exec "$(dirname "$0")/run-suite.sh" riscv "$@"
