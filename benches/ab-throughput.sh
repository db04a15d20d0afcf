#!/usr/bin/env bash
# A/B of Echo's throughput rows between builds of compare, in one run:
# each round runs every binary once (in turn, so drift hits all alike),
# each run `compare --only WORKLOADS --workers W --reps REPS`; the table
# gives, per workload and binary, the median over rounds of Echo's median
# and of tokio's (tokio is the same code in every build: its column shows
# the noise between binaries).
#
#   benches/ab-throughput.sh [-r ROUNDS] [-w W] [-n REPS] [-o WORKLOADS] NAME=COMPARE_BINARY...
#
# Build a binary of another commit with, e.g.:
#   git worktree add /tmp/old a03c7ba
#   (cd /tmp/old && CARGO_TARGET_DIR=/tmp/old-target cargo build --release -p echo-benches --bin compare)
set -euo pipefail

rounds=5 workers=1 reps=5 only=spawn_many_local,ping_pong,chained_spawn
while getopts "r:w:n:o:" opt; do
    case "$opt" in
    r) rounds=$OPTARG ;;
    w) workers=$OPTARG ;;
    n) reps=$OPTARG ;;
    o) only=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,14p' "$0"; exit 2; }

out=$(mktemp -d)
for ((round = 1; round <= rounds; round++)); do
    for pair in "$@"; do
        name=${pair%%=*} exe=${pair#*=}
        echo "round $round/$rounds: $name" >&2
        "$exe" --only "$only" --workers "$workers" --reps "$reps" 2>/dev/null |
            grep -E '^\| [a-z_]+ \| [0-9]+ \|' |
            awk -v n="$name" -F'|' '{gsub(/ /, "", $2); print n "|" $2 "|" $4 "|" $5}' >>"$out/rows"
    done
done

python3 - "$out/rows" "$@" <<'PY'
import statistics, sys
def secs(cell):
    v, unit = cell.strip().split()
    return float(v) * {"s": 1, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}[unit]
def fmt(s):
    for unit, f in (("ms", 1e-3), ("µs", 1e-6)):
        if s >= f:
            return f"{s / f:.2f} {unit}"
    return f"{s * 1e9:.0f} ns"
rows = {}
for line in open(sys.argv[1]):
    name, workload, echo, tokio = line.rstrip("\n").split("|")
    rows.setdefault((workload, name), []).append((secs(echo), secs(tokio)))
names = [p.split("=", 1)[0] for p in sys.argv[2:]]
workloads = list(dict.fromkeys(w for w, _ in rows))
first = names[0]
print("| workload | " + " | ".join(f"echo {n}" for n in names) + " | " +
      " | ".join(f"{n} / {first}" for n in names[1:]) + " | tokio (per binary) |")
print("|---|" + "---:|" * (2 * len(names) - 1) + "---|")
for w in workloads:
    med = {n: statistics.median(e for e, _ in rows.get((w, n), [(float("nan"), 0)])) for n in names}
    tok = {n: statistics.median(t for _, t in rows.get((w, n), [(0, float("nan"))])) for n in names}
    print(f"| {w} | " + " | ".join(fmt(med[n]) for n in names) + " | " +
          " | ".join(f"{med[n] / med[first]:.2f}" for n in names[1:]) + " | " +
          ", ".join(fmt(tok[n]) for n in names) + " |")
PY
rm -r "$out"
