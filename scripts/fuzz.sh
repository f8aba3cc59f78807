#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ with clang (ASan + UBSan, -DW2S_FUZZ=ON, in
# build-fuzz/) and runs each one in turn, from its seed corpus and its regressions, with its
# dictionary (docs/reliability.md).
#
#   bash scripts/fuzz.sh [--minutes N | --seconds N] [--target NAME]...
#
#   --minutes N   per target (default: 1 minute); --seconds N for short runs (CI: 10 s each)
#   --target NAME only this target (fuzz_NAME; repeatable); default: all
#
# What a fuzzer adds to its corpus stays in build-fuzz/corpus/<target>/ (the next run starts from
# it); the committed seeds in tests/fuzz/corpus/ are only read. A finding (crash, sanitizer report,
# uncaught exception, broken invariant, input slower than 10 s or above 2 GB) is written to
# build-fuzz/findings/<target>/: fix it, then add the input to tests/fuzz/regressions/<target>/, where
# test_fuzz_regressions runs it in the normal suite from then on.
#
# Exit: 0 nothing found; 1 a finding, or the build failed; 2 bad options; 3 clang or libFuzzer is
# not installed (apt-get install clang libclang-rt-dev; scripts/install-deps.sh does).
set -euo pipefail
{
cd "$(dirname "$0")/.."
export W2S_TEST_ASSETS="${W2S_TEST_ASSETS:-$(cd .. && pwd)/shared}"
seconds=60
targets=()
while (($#)); do
  case "$1" in
    --minutes) seconds=$(($2 * 60)); shift ;;
    --seconds) seconds="$2"; shift ;;
    --target) targets+=("$2"); shift ;;
    *) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$seconds" =~ ^[0-9]+$ ]] && ((seconds > 0)) || { echo "fuzz.sh: the time per target must be a positive number" >&2; exit 2; }

# libFuzzer comes with clang's runtime libraries (Debian: libclang-rt-dev), not with clang itself.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' >"$probe/probe.cpp"
if ! command -v clang++ >/dev/null || ! clang++ -fsanitize=fuzzer "$probe/probe.cpp" -o "$probe/probe" 2>"$probe/log"; then
  echo "fuzz.sh: clang++ with libFuzzer is not installed (apt-get install clang libclang-rt-dev)"
  cat "$probe/log" 2>/dev/null | tail -n 3
  exit 3
fi

echo "==== fuzz: build (clang, ASan + UBSan + libFuzzer) in build-fuzz/"
mkdir -p build-fuzz
if ! cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DW2S_FUZZ=ON -DW2S_BUILD_BENCH=OFF -DW2S_TEST_ASSETS="$W2S_TEST_ASSETS" >build-fuzz/w2s-configure.log 2>&1; then
  tail -n 20 build-fuzz/w2s-configure.log
  exit 1
fi
build_targets=(w2s_fuzzers)
((${#targets[@]})) && build_targets=("${targets[@]/#/fuzz_}")
cmake --build build-fuzz -j2 --target "${build_targets[@]}" || exit 1
((${#targets[@]})) || mapfile -t targets < <(cd tests/fuzz && ls fuzz_*.cpp | sed 's/^fuzz_//; s/\.cpp$//' |
  while read -r t; do [[ -x "../../build-fuzz/tests/fuzz/fuzz_$t" ]] && echo "$t"; done)

# Sanitizer suppressions: the same files as scripts/check-sanitizers.sh.
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/sanitizers/ubsan.supp"
summary=()
found=0
for t in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$t" findings="build-fuzz/findings/$t"
  mkdir -p "$corpus" "$findings"
  seeds=("tests/fuzz/corpus/$t")
  [[ -d "tests/fuzz/regressions/$t" ]] && seeds+=("tests/fuzz/regressions/$t")
  echo
  echo "==== fuzz_$t: $seconds s"
  log="build-fuzz/fuzz_$t.log"
  set +e
  "build-fuzz/tests/fuzz/fuzz_$t" "$corpus" "${seeds[@]}" -dict="tests/fuzz/dict/$t.dict" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if ((rc != 0)); then
    found=1
    tail -n 40 "$log"
    summary+=("$(printf '%-20s %8s runs  FINDING: %s' "$t" "${runs:-?}" "$(ls -t "$findings" | head -n 1)")")
  else
    summary+=("$(printf '%-20s %8s runs  corpus %s inputs  nothing found' "$t" "${runs:-?}" "$(ls "$corpus" | wc -l)")")
  fi
done
echo
echo "fuzz targets, $seconds s each:"
printf '  %s\n' "${summary[@]}"
exit $found
}
