#!/usr/bin/env bash
# Measures how a run's time and memory grow with households and threads, and how `compare` grows
# with scenarios × replicates; prints the Markdown tables of docs/performance.md.
#
#   tools/scaling.sh [BINARY]          (default target/release/migrasim; build it first)
#
# Each point is one run of the baseline (2024–2029) measured with /usr/bin/time -v: wall seconds,
# peak resident memory, and household-years per second of the household passes (from the
# manifest's phase timings). Runs write to a fresh temporary folder that is removed afterwards.
# The 500M-household points need about 9 GB of memory and several minutes each.
set -euo pipefail
binary=${1:-target/release/migrasim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
years=6

measure() { # label, then the migrasim arguments; prints "seconds peak_kb"
    local label=$1
    shift
    /usr/bin/time -v -o "$work/time" "$binary" "$@" -q
    local wall peak
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time" |
        awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
    peak=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
    echo "$wall $peak"
}

echo "| households | threads | wall s | household passes s | household-years/s (passes) | household-years/s (whole run) | peak memory |"
echo "|---|---|---|---|---|---|---|"
for households in 1000000 10000000 100000000 500000000; do
    for threads in 1 2; do
        out="$work/run-$households-$threads"
        read -r wall peak < <(measure run run scenarios/baseline.toml --households "$households" --threads "$threads" --out "$out")
        passes=$(python3 -c "import json; print(json.load(open('$out/manifest.json'))['timings_seconds'][0]['household_passes'])")
        python3 - "$households" "$threads" "$wall" "$passes" "$peak" "$years" <<'EOF'
import sys
households, threads, wall, passes, peak, years = sys.argv[1:]
hy = int(households) * int(years)
print(f"| {int(households):,} | {threads} | {float(wall):.1f} | {float(passes):.1f} | {hy / float(passes) / 1e6:.1f}M "
      f"| {hy / float(wall) / 1e6:.1f}M | {int(peak) / 1e6:.2f} GB |")
EOF
        rm -rf "$out"
    done
done

echo
echo "| command (1M households, 2 threads) | runs | wall s | s per run |"
echo "|---|---|---|---|"
for scenarios in 2 4; do
    for replicates in 1 2 4; do
        files=(scenarios/baseline.toml scenarios/status-quo.toml scenarios/housing-push.toml scenarios/west-jobs.toml)
        out="$work/compare-$scenarios-$replicates"
        read -r wall _ < <(measure compare compare "${files[@]:0:$scenarios}" --households 1000000 --replicates "$replicates" --out "$out")
        runs=$((scenarios * replicates))
        python3 -c "print(f'| compare {$scenarios} scenarios × {$replicates} replicates | {$runs} | {float($wall):.1f} | {float($wall) / $runs:.2f} |')"
        rm -rf "$out"
    done
done
