#!/usr/bin/env bash
# Builds one bare-metal host of Echo and runs its on-target suite under
# QEMU; exits with the suite's status.
#
#   embedded/run-suite.sh cortex-m    # thumbv7m-none-eabi on mps2-an385
#   embedded/run-suite.sh riscv       # riscv32imac on virt, two harts
#   embedded/run-suite.sh cortex-m0   # thumbv6m-none-eabi on microbit
#
# ECHO_SUITE=name[,name] runs only those tests; TIMEOUT (seconds, default
# 120) bounds the run. `-icount shift=0,sleep=off`: one instruction is one
# nanosecond of virtual time, and idle time is skipped rather than slept,
# so every figure the suite prints is the same from run to run. A run
# that times out (a hung chip) is stopped, and the core's registers are
# printed with the code its PC and LR point into.
set -euo pipefail
cd "$(dirname "$0")"

host=${1:?usage: run-suite.sh cortex-m|riscv|cortex-m0}
icount=(-icount shift=0,sleep=off)
case "$host" in
cortex-m)
    target=thumbv7m-none-eabi crate=echo-qemu-cortex-m qemu=qemu-system-arm
    machine=(-cpu cortex-m3 -machine mps2-an385 -semihosting-config enable=on,target=native)
    ;;
cortex-m0)
    target=thumbv6m-none-eabi crate=echo-qemu-cortex-m qemu=qemu-system-arm
    machine=(-machine microbit -semihosting-config enable=on,target=native)
    ;;
riscv)
    target=riscv32imac-unknown-none-elf crate=echo-qemu-riscv qemu=qemu-system-riscv32
    machine=(-machine virt -smp 2 -bios none)
    # QEMU 7.2 with -icount and -smp 2: a hart halted in WFI is not
    # resumed by the other hart's software interrupt while that hart
    # spins (seen: hart 1 in WFI with MSIP pending and enabled for 60 s).
    # Without -icount the harts run in parallel, as on a chip.
    icount=()
    ;;
*)
    echo "unknown host '$host': cortex-m, riscv or cortex-m0" >&2
    exit 2
    ;;
esac

if ! command -v "$qemu" >/dev/null 2>&1; then
    echo "FAILED: $qemu is not installed, so the $host suite cannot run." >&2
    echo "Debian: apt-get install -y qemu-system-arm qemu-system-misc" >&2
    exit 1
fi
if command -v rustup >/dev/null 2>&1; then
    rustup target add "$target" >/dev/null
fi

echo "== building $crate for $target${ECHO_SUITE:+ (ECHO_SUITE=$ECHO_SUITE)}"
cargo build --release -p "$crate" --target "$target"
elf="target/$target/release/$crate"

sock=$(mktemp -u /tmp/echo-qemu-XXXXXX.sock)
echo "== $qemu ${machine[*]} ${icount[*]} -kernel $elf"
"$qemu" "${machine[@]}" -nographic "${icount[@]}" \
    -monitor "unix:$sock,server,nowait" -kernel "$elf" </dev/null &
qemu_pid=$!
deadline=$((SECONDS + ${TIMEOUT:-120}))
while kill -0 "$qemu_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
done
if kill -0 "$qemu_pid" 2>/dev/null; then
    echo "FAILED: the $host suite ran past ${TIMEOUT:-120} s: the chip hung. Where each core was:"
    python3 qemu-where.py "$sock" "$elf" || echo "(could not read the registers)"
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
    rm -f "$sock"
    exit 124
fi
rc=0
wait "$qemu_pid" || rc=$?
rm -f "$sock"
exit "$rc"
