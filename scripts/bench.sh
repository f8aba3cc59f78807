#!/usr/bin/env bash
# Runs every benchmark (docs/benchmarks.md) and prints one table of their ratios, each bench's
# own output kept in a log folder. Every bench interleaves w2s with its reference and reports
# medians of at least 3 rounds beside the machine's load; still, on shared cores read the
# CPU-second ratios before the wall-time ones.
#
# usage: scripts/bench.sh [--quick] [--build DIR]
#   --quick      smaller cases (a few minutes on 2 cores instead of most of an hour)
#   --build DIR  the CMake build folder (default: build); its w2s and bench/ binaries are run
# $W2S_TEST_ASSETS: the shared assets (data/, models/); default ../shared beside the checkout.
# bench/model/bench_llama_server.sh (llama.cpp's llama-server) runs only where the current-Debian root
# of scripts/check-current-debian.sh has llama.cpp installed (and as root); otherwise it says why not.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
quick=0
build=build
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --build) build=${2:?--build needs a folder}; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $build = /* ]] || build=$here/$build
export W2S_TEST_ASSETS=${W2S_TEST_ASSETS:-$(cd "$here/.." && pwd)/shared}
for binary in apps/w2s/w2s apps/w2s/w2s-torch bench/model/bench_model bench/model/bench_local_icl bench/model/bench_attention \
  bench/llm/bench_llm; do
  [[ -x $build/$binary ]] || { echo "bench.sh: $build/$binary is not built (cmake --build $build -j2)" >&2; exit 1; }
done
logs=$(mktemp -d /tmp/w2s-bench.XXXXXX)

# run NAME COMMAND...: the bench's output on the terminal and in $logs/NAME.log.
run() {
  local name=$1
  shift
  echo "== $name: $* ($(cut -d' ' -f1-3 /proc/loadavg))"
  "$@" | tee "$logs/$name.log"
}

# Start-up: `w2s --help` beside `w2s-torch --help` (the same table, with libtorch loaded),
# interleaved, 3 rounds of 10 runs each: seconds per run, median of the rounds.
startup() {
  local rounds=3 runs=10 w2s=() torch=()
  for ((r = 0; r < rounds; r++)); do
    for side in w2s w2s-torch; do
      local t0 t1
      t0=$(date +%s.%N)
      for ((i = 0; i < runs; i++)); do OMP_WAIT_POLICY=PASSIVE "$build/apps/w2s/$side" --help >/dev/null; done
      t1=$(date +%s.%N)
      local per_run
      per_run=$(awk -v a="$t0" -v b="$t1" -v n=$runs 'BEGIN { printf "%.6f", (b - a) / n }')
      if [[ $side = w2s ]]; then w2s+=("$per_run"); else torch+=("$per_run"); fi
    done
  done
  local m1 m2
  m1=$(printf '%s\n' "${w2s[@]}" | sort -g | sed -n 2p)
  m2=$(printf '%s\n' "${torch[@]}" | sort -g | sed -n 2p)
  printf 'w2s --help: %.4f s per run [%s]; w2s-torch --help: %.4f s [%s] (median of %d rounds of %d; %s)\n' \
    "$m1" "$(printf '%.4f ' "${w2s[@]}")" "$m2" "$(printf '%.4f ' "${torch[@]}")" $rounds $runs "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'RATIO\tw2s --help, s\twall\t%.4f\ttarget < 0.1\n' "$m1"
  printf 'RATIO\tstart-up w2s-torch/w2s\twall\t%.1f\twhat loading libtorch would cost every command\n' "$(awk -v a="$m2" -v b="$m1" 'BEGIN { print a / b }')"
}

# llama.cpp's llama-server beside w2s's local provider: it runs from the current-Debian root that
# scripts/check-current-debian.sh builds, when this machine has one (and root to enter it).
llama_root=${W2S_CURRENT_DEBIAN_ROOT:-/var/tmp/w2s-current-debian}
llama_skip=""
if [[ $(id -u) -ne 0 ]]; then
  llama_skip="not root (it enters $llama_root with chroot)"
elif [[ ! -f $llama_root/.w2s-bootstrap-done ]]; then
  llama_skip="no current-Debian root at $llama_root (bash scripts/check-current-debian.sh builds it)"
else
  for p in llama.cpp-tools python3-gguf python3-transformers; do
    [[ $(dpkg-query --admindir="$llama_root/var/lib/dpkg" -W -f='${Status}' "$p" 2>/dev/null) = "install ok installed" ]] ||
      llama_skip="$p is not installed in $llama_root (bench/model/bench_llama_server.sh --install installs it)"
  done
fi
llama_server() {
  if [[ -n $llama_skip ]]; then
    echo "bench_llama_server skipped: $llama_skip"
  else
    "$here/bench/model/bench_llama_server.sh" --build "$build" "$@"
  fi
}

run startup startup
if ((quick)); then
  run bench_model "$build/bench/model/bench_model" --quick
  run bench_local_icl "$build/bench/model/bench_local_icl" --hidden 128 --layers 2 --questions 4 --no-study
  run bench_attention "$build/bench/model/bench_attention" --head-dims 8,32,64
  run bench_llm "$build/bench/llm/bench_llm" --quick
  run bench_llama_server llama_server --cases stories
else
  run bench_model "$build/bench/model/bench_model"
  run bench_local_icl "$build/bench/model/bench_local_icl"
  run bench_local_icl_896 "$build/bench/model/bench_local_icl" --hidden 896 --layers 2 --questions 4 --no-study
  run bench_attention "$build/bench/model/bench_attention"
  run bench_llm "$build/bench/llm/bench_llm"
  run bench_llama_server llama_server
fi

echo
echo "== ratios ($(cut -d' ' -f1-3 /proc/loadavg) at the end; logs in $logs)"
printf '%-20s %-52s %-20s %9s  %s\n' bench case metric value meaning
for log in "$logs"/*.log; do
  name=$(basename "$log" .log)
  grep '^RATIO' "$log" | while IFS=$'\t' read -r _ case metric value meaning; do
    printf '%-20s %-52s %-20s %9s  %s\n' "$name" "$case" "$metric" "$value" "$meaning"
  done
done
