#!/usr/bin/env bash
# Builds the figure firmwares for Echo and embassy-executor, runs them under
# QEMU with -icount shift=0,sleep=off, and prints one markdown table and the
# per-symbol size breakdown of echo-core. See README.md for the method.
#
#   embedded/figures/run.sh [--on FEATURES] [--off FEATURES] [--off-no-default]
#
#   --on FEATURES       echo-core features (comma/space separated) for every
#                       Echo image, besides its default features.
#   --off FEATURES      echo-core features for the "metrics off" size image
#                       instead of those of --on.
#   --off-no-default    build the "metrics off" size image without echo-core's
#                       default features (metrics is one: the figures use
#                       --off-no-default --off timers).
#
# Two more size images have echo-core without any optional feature (no
# metrics, no timers): one as the others, one that never shuts its
# scheduler down (a firmware that runs until reset, like the embassy image).
#
# The "metrics off" image also sets Config::detailed_metrics = false, the only
# switch echo-core has today.
#
# Needs: cargo with the thumbv7m-none-eabi and riscv32imac-unknown-none-elf
# targets, qemu-system-arm and qemu-system-riscv32 (QEMU 7.2 tested), and
# llvm-size/llvm-nm (rustup's llvm-tools, or the system's). Writes the
# firmwares, logs and the report under embedded/figures/out/.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

on_features=""
off_features=""
off_set=0
off_no_default=0
while [ $# -gt 0 ]; do
    case "$1" in
        --on) on_features="$2"; shift 2 ;;
        --off) off_features="$2"; off_set=1; shift 2 ;;
        --off-no-default) off_no_default=1; shift ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$off_set" = 1 ] || off_features="$on_features"

die() { echo "run.sh: $*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------
for q in qemu-system-arm qemu-system-riscv32; do
    command -v "$q" >/dev/null || die "$q not found (Debian: apt-get install qemu-system-arm qemu-system-misc)"
done
installed_targets="$(rustup target list --installed 2>/dev/null || true)"
for t in thumbv7m-none-eabi riscv32imac-unknown-none-elf; do
    echo "$installed_targets" | grep -qx "$t" || die "Rust target $t missing (rustup target add $t)"
done
llvm_bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
if [ ! -x "$llvm_bin/llvm-nm" ]; then
    rustup component add llvm-tools >/dev/null 2>&1 || true
fi
if [ -x "$llvm_bin/llvm-nm" ] && [ -x "$llvm_bin/llvm-size" ]; then
    NM="$llvm_bin/llvm-nm"; SIZE="$llvm_bin/llvm-size"
elif command -v llvm-nm >/dev/null && command -v llvm-size >/dev/null; then
    NM=llvm-nm; SIZE=llvm-size
else
    die "llvm-nm/llvm-size not found (rustup component add llvm-tools)"
fi

out="$here/out"
rm -rf "$out"
mkdir -p "$out"

# echo-core's feature list for cargo: its defaults (if it has any) plus $1.
core_features() {
    local extra="$1" no_default="$2" list=""
    if [ "$no_default" = 0 ] && sed -n '/^\[features\]/,/^\[/p' ../../echo-core/Cargo.toml | grep -q '^default *='; then
        list="echo-sched-core/default"
    fi
    for f in $(echo "$extra" | tr ',' ' '); do
        list="$list,echo-sched-core/$f"
    done
    echo "${list#,}"
}
on_core="$(core_features "$on_features" 0)"
off_core="$(core_features "$off_features" "$off_no_default")"

build() { # target features bin dest
    local target="$1" features="$2" bin="$3" dest="$4"
    echo "build: $bin for $target with features [$features]" >&2
    cargo build --quiet --release --target "$target" --features "$features" --bin "$bin"
    cp "target/$target/release/$bin" "$out/$dest"
}

# --- 1. size images (lm3s6965evb memory map) ----------------------------------
arm=thumbv7m-none-eabi
rv=riscv32imac-unknown-none-elf
build $arm "board-lm3s" size_base size_base.elf
build $arm "board-lm3s,echo${on_core:+,$on_core}" size_echo size_echo_on.elf
build $arm "board-lm3s,echo,no-detail${off_core:+,$off_core}" size_echo size_echo_off.elf
# echo-core with no optional part at all (no metrics, no timers).
build $arm "board-lm3s,echo,no-detail" size_echo size_echo_bare.elf
# The same, never shut down: a firmware whose scheduler runs until reset.
build $arm "board-lm3s,echo,no-detail,no-shutdown" size_echo size_echo_forever.elf
build $arm "board-lm3s,embassy" size_embassy size_embassy.elf

# --- 2. run-time firmwares --------------------------------------------------
build $arm "echo,bench${on_core:+,$on_core}" bench_echo bench_echo_arm.elf
build $arm "embassy,bench" bench_embassy bench_embassy_arm.elf
build $rv "echo,bench${on_core:+,$on_core}" bench_echo bench_echo_riscv.elf
build $rv "embassy,bench" bench_embassy bench_embassy_riscv.elf

run_arm() {
    timeout 300 qemu-system-arm -M mps2-an385 -display none -serial none -monitor none \
        -semihosting-config enable=on,target=native -icount shift=0,sleep=off \
        -kernel "$out/$1" >"$out/$2"
}
run_rv() {
    timeout 300 qemu-system-riscv32 -M virt -smp 1 -bios none -display none -serial stdio \
        -monitor none -icount shift=0,sleep=off -kernel "$out/$1" >"$out/$2"
}
for fw in echo embassy; do
    echo "run: bench_$fw on mps2-an385" >&2
    run_arm "bench_${fw}_arm.elf" "${fw}_arm.log" || die "bench_$fw failed on mps2-an385 (see out/${fw}_arm.log)"
    echo "run: bench_$fw on riscv32 virt" >&2
    run_rv "bench_${fw}_riscv.elf" "${fw}_riscv.log" || die "bench_$fw failed on riscv32 virt (see out/${fw}_riscv.log)"
    for log in "${fw}_arm.log" "${fw}_riscv.log"; do
        grep -q '^DONE' "$out/$log" || die "$log did not finish"
    done
done

# --- 3. the table ---------------------------------------------------------
section_sum() { # elf sections...
    local elf="$1"; shift
    "$SIZE" -A "$elf" | awk -v want=" $* " '
        index(want, " " $1 " ") { s += $2 } END { print s + 0 }'
}
flash() { section_sum "$1" .text .rodata; }
sram() { section_sum "$1" .data .bss; }
fig() { # log key
    awk -v k="$2" '$1 == "FIG" && $2 == k { print $3; found = 1 } END { if (!found) print "n/a" }' "$out/$1"
}
# The exact count on RISC-V (minstret), else the clock's.
figx() {
    local v; v="$(fig "$1" "$2_exact")"
    if [ "$v" = "n/a" ]; then fig "$1" "$2"; else echo "$v"; fi
}
row() { # figure echo embassy target-op target-value
    awk -v f="$1" -v e="$2" -v b="$3" -v op="${4:-}" -v t="${5:-}" 'BEGIN {
        ratio = (b + 0 > 0 && e != "n/a") ? sprintf("%.2fx", e / b) : "—"
        target = "—"; met = "—"
        if (op == "le") { target = "≤ " t; met = (e + 0 <= t + 0) ? "yes" : "**no**" }
        if (op == "ratio") { target = "≤ " t "x embassy"; met = (b + 0 > 0 && e / b <= t + 0) ? "yes" : "**no**" }
        printf "| %s | %s | %s | %s | %s | %s |\n", f, e, b, ratio, target, met
    }'
}

base="$out/size_base.elf"
flash_on=$(( $(flash "$out/size_echo_on.elf") - $(flash "$base") ))
flash_off=$(( $(flash "$out/size_echo_off.elf") - $(flash "$base") ))
flash_bare=$(( $(flash "$out/size_echo_bare.elf") - $(flash "$base") ))
flash_forever=$(( $(flash "$out/size_echo_forever.elf") - $(flash "$base") ))
flash_emb=$(( $(flash "$out/size_embassy.elf") - $(flash "$base") ))
sram_on=$(( $(sram "$out/size_echo_on.elf") - $(sram "$base") ))
sram_off=$(( $(sram "$out/size_echo_off.elf") - $(sram "$base") ))
sram_emb=$(( $(sram "$out/size_embassy.elf") - $(sram "$base") ))

report="$out/report.md"
{
    echo "## Echo beside embassy-executor under QEMU -icount shift=0,sleep=off"
    echo
    echo "echo-core at $(git -C ../.. rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C ../.. diff --quiet HEAD -- echo-core 2>/dev/null || echo ' (modified)'),"
    echo "features on: [${on_core:-none}], off: [${off_core:-none}] + detailed_metrics = false;"
    echo "embassy-executor $(awk '/^name = "embassy-executor"$/ { getline; sub(/version = /, ""); gsub(/"/, ""); print }' Cargo.lock),"
    echo "$(qemu-system-arm --version | head -1)."
    echo
    echo "| figure | Echo | embassy | ratio | target | met |"
    echo "|---|---|---|---|---|---|"
    row "flash (.text+.rodata) over baseline, thumbv7m, metrics on (B)" "$flash_on" "$flash_emb"
    row "flash (.text+.rodata) over baseline, thumbv7m, metrics off (B)" "$flash_off" "$flash_emb" le 16384
    row "flash (.text+.rodata) over baseline, thumbv7m, metrics and timers off (B)" "$flash_bare" "$flash_emb" le 16384
    row "flash (.text+.rodata) over baseline, thumbv7m, metrics and timers off, never shut down (B)" "$flash_forever" "$flash_emb" le 16384
    row "static RAM (.data+.bss) over baseline, metrics on (B)" "$sram_on" "$sram_emb"
    row "static RAM (.data+.bss) over baseline, metrics off (B)" "$sram_off" "$sram_emb"
    row "RAM per task, 16-byte future: slot / TaskStorage (B)" "$(fig echo_arm.log echo.ram.stride)" "$(fig embassy_arm.log embassy.ram.storage_size)"
    row "slab bytes per live task, 100 live (B)" "$(fig echo_arm.log echo.ram.slab_per_task)" "$(fig embassy_arm.log embassy.ram.storage_size)"
    row "heap per task, pooled_slab = false (B)" "$(fig echo_arm.log echo.ram_unpooled.heap_per_task)" "$(fig embassy_arm.log embassy.ram.storage_size)"
    row "heap of an empty 1-worker scheduler / size of Executor (B)" "$(fig echo_arm.log echo.ram.scheduler_heap)" "$(fig embassy_arm.log embassy.ram.executor_size)"
    for a in arm riscv; do
        if [ $a = arm ]; then m="Cortex-M3 (mps2-an385)"; else m="RV32 (virt)"; fi
        row "$m: wake→poll, executor asleep in WFI (insns)" "$(figx echo_$a.log echo.wake_idle)" "$(figx embassy_$a.log embassy.wake_idle)"
        row "$m: wake→poll, busy, nothing else queued (insns)" "$(figx echo_$a.log echo.wake_busy0)" "$(figx embassy_$a.log embassy.wake_busy0)"
        row "$m: wake→poll, Echo High with 3 Normal queued vs embassy nothing queued (insns)" "$(figx echo_$a.log echo.wake_busy3)" "$(figx embassy_$a.log embassy.wake_busy0)" ratio 1.5
        row "$m: wake→poll, 3 other tasks queued (Echo: Normal, woken High) (insns)" "$(figx echo_$a.log echo.wake_busy3)" "$(figx embassy_$a.log embassy.wake_busy3)"
        row "$m: same, Echo with detailed_metrics = false (insns)" "$(figx echo_$a.log echo_nodetail.wake_busy3)" "$(figx embassy_$a.log embassy.wake_busy0)" ratio 1.5
        row "$m: spawn-run-complete cycle (insns)" "$(fig echo_$a.log echo.cycle)" "$(fig embassy_$a.log embassy.cycle)"
        row "$m: poll round trip of a self-waking task (insns)" "$(fig echo_$a.log echo.yield)" "$(fig embassy_$a.log embassy.yield)"
    done
    echo
    echo "Method check (instructions measured for known sequences, clock method / exact):"
    for l in echo_arm embassy_arm echo_riscv embassy_riscv; do
        echo "- $l: clock $(fig $l.log cal_insns_per_tick) insns/tick; 1000 nops → $(fig $l.log cal_sled1000) / $(fig $l.log cal_sled1000_exact); read overhead $(fig $l.log cal_read_overhead)"
    done
    echo
    echo "RISC-V wake→poll spread (exact, min..max): Echo busy3 $(fig echo_riscv.log echo.wake_busy3_min)..$(fig echo_riscv.log echo.wake_busy3_max), idle $(fig echo_riscv.log echo.wake_idle_min)..$(fig echo_riscv.log echo.wake_idle_max); embassy busy0 $(fig embassy_riscv.log embassy.wake_busy0_min)..$(fig embassy_riscv.log embassy.wake_busy0_max)."
    echo "Echo's slab holds $(fig echo_arm.log echo.ram.slab_bytes) bytes for its first task (one chunk)."
} >"$report"

# --- 4. per-symbol breakdown ------------------------------------------------
# Symbols of the Echo image (metrics on) that the baseline lacks, or that grew,
# demangled without hashes, grouped by crate/module, and the largest ones.
symbols() {
    "$NM" --print-size --size-sort --radix=d -C "$1" | awk 'NF >= 4 {
        name = $4; for (i = 5; i <= NF; i++) name = name " " $i
        gsub(/\$LT\$/, "<", name); gsub(/\$GT\$/, ">", name); gsub(/\$C\$/, ",", name)
        gsub(/\$u20\$/, " ", name); gsub(/\$RF\$/, "\\&", name); gsub(/\$BP\$/, "*", name)
        gsub(/\.\./, "::", name); sub(/::h[0-9a-f]+$/, "", name); sub(/^size_[a-z_]+::/, "IMAGE::", name)
        size[name] += $2 + 0
    } END { for (n in size) printf "%d\t%s\n", size[n], n }'
}
symbols "$base" >"$out/base.syms"
symbols "$out/size_echo_on.elf" >"$out/echo.syms"
awk -F'\t' 'NR == FNR { base[$2] = $1; next }
    { d = $1 - base[$2]; if (d > 0) printf "%d\t%s\n", d, $2 }' "$out/base.syms" "$out/echo.syms" |
    sort -rn >"$out/echo_added.syms"
{
    echo
    echo "### What echo-core adds to the Cortex-M image (metrics on), by symbol"
    echo
    echo "Bytes of symbols (functions and data) absent from the baseline or grown over it;"
    echo "echo-core code inlined into the embedding's main is counted under main."
    echo
    echo "| group | bytes |"
    echo "|---|---|"
    awk -F'\t' '{
        n = $2; g = "other"
        if (n ~ /main/) g = "the embedding main (echo-core inlined)"
        else if (n ~ /echo_sched_core::slab/) g = "echo-core slab"
        else if (n ~ /echo_sched_core::timer/ || n ~ /fire_timers/) g = "echo-core timers (and the worker loop inlined there)"
        else if (n ~ /echo_sched_core::metrics/ || n ~ /record_latency/ || n ~ /metrics/) g = "echo-core metrics"
        else if (n ~ /echo_sched_core::inject/ || n ~ /crossbeam/) g = "echo-core injectors (crossbeam SegQueue)"
        else if (n ~ /echo_sched_core::task/) g = "echo-core tasks, wakers, join"
        else if (n ~ /echo_sched_core::runtime::shutdown/) g = "echo-core shutdown"
        else if (n ~ /echo_sched_core/) g = "echo-core other"
        else if (n ~ /btree/) g = "alloc BTreeMap"
        else if (n ~ /alloc::sync::Arc/) g = "alloc Arc"
        else if (n ~ /alloc::/ || n ~ /raw_vec/) g = "alloc other (Vec growth, ...)"
        else if (n ~ /core::fmt/ || n ~ /Debug|Display/) g = "core::fmt"
        else if (n ~ /rand/) g = "rand_core / rand_xoshiro"
        else if (n ~ /compiler_builtins|__aeabi|memcpy|memmove|memset|memclr|memcmp/) g = "compiler builtins (memcpy, u64 division, ...)"
        else if (n ~ /core::panicking|panic/) g = "panics"
        s[g] += $1; t += $1
    } END { for (g in s) printf "| %s | %d |\n", g, s[g]; printf "| **total** | **%d** |\n", t }' \
        "$out/echo_added.syms" | sort -t'|' -k3 -rn
    echo
    echo "Largest 30:"
    echo
    echo '```'
    head -30 "$out/echo_added.syms"
    echo '```'
} >>"$report"

cat "$report"
