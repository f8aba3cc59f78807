#!/usr/bin/env bash
# Builds w2s and runs its tests under the sanitizers, and every fuzz target briefly
# (docs/reliability.md). `.ci/run` runs it after the other checks.
#
#   bash scripts/check-sanitizers.sh [--deadline EPOCH] [--only asan|tsan|fuzz] [--asan-tests REGEX]
#                                    [--fuzz-seconds N]
#
#   asan  the whole project (libtorch side included) and the whole test suite with AddressSanitizer,
#         LeakSanitizer and UndefinedBehaviorSanitizer (GCC), in build-asan/
#   tsan  the API side (-DW2S_WITH_TORCH=OFF) with ThreadSanitizer, and the tests of the concurrent
#         parts: the client (test_llm) and the in-context experiments (test_icl, test_icl_integration),
#         in build-tsan/
#   fuzz  the libFuzzer harnesses of tests/fuzz/ (clang), each for --fuzz-seconds (default 10) from
#         its seed corpus, in build-fuzz/ (scripts/fuzz.sh; skipped, and said so, where clang or
#         libFuzzer is not installed: scripts/install-deps.sh installs both)
#
#   --deadline T     epoch seconds by which the check must be over (CI's time limit). Before each
#                    suite is built, the time it takes is compared with the time left; a suite that
#                    does not fit is not built (NOT RUN, saying which and why). What a suite takes is
#                    what it took the last time on this machine (kept beside the compiler cache, in
#                    $CCACHE_DIR/w2s-sanitizer-times), else its time from an empty compiler cache.
#   --only SUITE     one suite (asan, tsan or fuzz)
#   --asan-tests R   only the CTest tests matching R under ASan (a quick look; not for CI)
#
# Builds go through ccache when it is installed (CMakeLists.txt), so a machine that built before
# rebuilds only what changed; CI keeps the cache outside the clone ($CCACHE_DIR, .ci/run).
#
# Outcome, on a marker line `W2S-SANITIZERS: PASSED|FAILED|NOT-RUN` followed by the reason:
#   exit 0  PASSED (every suite ran and was clean) or NOT RUN (a suite did not fit before --deadline;
#           the suites that ran were clean, and are named)
#   exit 1  FAILED: a build failed, or a test failed or a sanitizer reported under a suite
#   exit 2  bad options
set -euo pipefail
{ # Read whole before it runs: it runs for a long time and may be edited meanwhile.

cd "$(dirname "$0")/.."
src="$PWD"
export W2S_TEST_ASSETS="${W2S_TEST_ASSETS:-$(cd .. && pwd)/shared}"
deadline=0
only=""
asan_tests=""
fuzz_seconds=10
# From an empty ccache on 2 cores, with a margin (docs/reliability.md has the measured times).
declare -A scratch_s=([asan]=4800 [tsan]=1200 [fuzz]=2400)
times_file="${W2S_SANITIZER_TIMES:-${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ccache}/w2s-sanitizer-times}"
while (($#)); do
  case "$1" in
    --deadline) deadline="$2"; shift ;;
    --only) only="$2"; shift ;;
    --asan-tests) asan_tests="$2"; shift ;;
    --fuzz-seconds) fuzz_seconds="$2"; shift ;;
    *) echo "check-sanitizers: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
case "$only" in "" | asan | tsan | fuzz) ;; *) echo "check-sanitizers: --only takes asan, tsan or fuzz" >&2; exit 2 ;; esac
wants() { [[ -z "$only" || "$only" == "$1" ]]; }

# ---- outcome and phase times --------------------------------------------------------------------
phases=()
phase_start=0
current=""
begin() {
  current="$1"
  phase_start=$SECONDS
  echo
  echo "==== sanitizers: $current"
}
end() {
  phases+=("$(printf '%-14s %4dm%02ds  %s' "$current" $(((SECONDS - phase_start) / 60)) $(((SECONDS - phase_start) % 60)) "$1")")
  current=""
}
print_times() {
  [[ -n "$current" ]] && end "stopped"
  echo
  echo "phase wall times:"
  ((${#phases[@]})) && printf '  %s\n' "${phases[@]}"
  printf '  %-14s %4dm%02ds\n' total $((SECONDS / 60)) $((SECONDS % 60))
}
failures=()
fail() { failures+=("$*"); }
passed=()
skipped=()
joined() { local out="" item; for item in "$@"; do out+="${out:+; }$item"; done; echo "$out"; }
finish() {
  print_times
  if ((${#failures[@]})); then
    echo "W2S-SANITIZERS: FAILED"
    printf 'sanitizer check FAILED: %s\n' "${failures[@]}"
    exit 1
  fi
  if ((${#skipped[@]})); then
    echo "W2S-SANITIZERS: NOT-RUN"
    echo "sanitizer check NOT RUN for time: $(joined "${skipped[@]}")${passed[*]:+; clean: $(joined "${passed[@]}")}"
    exit 0
  fi
  echo "W2S-SANITIZERS: PASSED"
  echo "sanitizer check PASSED: $(joined "${passed[@]}")"
  exit 0
}

# ---- time: each suite is built only when what it took last time fits before the deadline ------------
estimate() {  # estimate <suite>: seconds
  local last
  last=$(awk -v s="$1" '$1 == s { t = $2 } END { print t }' "$times_file" 2>/dev/null)
  [[ -n "$last" ]] && echo $((last + last / 4 + 60)) || echo "${scratch_s[$1]}"
}
fits() {  # fits <suite>; says why not
  ((deadline == 0)) && return 0
  local need left
  need=$(estimate "$1")
  left=$((deadline - $(date +%s)))
  ((need <= left)) && return 0
  skipped+=("$1 (takes ~$((need / 60)) min, $((left / 60)) min left before the deadline)")
  echo "==== sanitizers: $1 not run: it takes ~$((need / 60)) minutes, $((left / 60)) are left before the deadline"
  return 1
}
remember() {  # remember <suite> <seconds>: for the next run's estimate
  mkdir -p "$(dirname "$times_file")" 2>/dev/null && { grep -v "^$1 " "$times_file" 2>/dev/null; echo "$1 $2"; } >"$times_file.new" &&
    mv "$times_file.new" "$times_file" || true
}

# Sanitizer runtime options. Reports stop the program with exit code 1 (UBSan too: built with
# -fno-sanitize-recover), so ctest sees them as failures.
supp="$src/tests/sanitizers"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
# LeakSanitizer: libtorch's and OpenBLAS's process-lifetime state (registries, allocator caches,
# thread pools) stays reachable and is not reported; tests/sanitizers/lsan.supp says why it holds no
# whole-library entry (it would hide the tensors w2s leaks) and takes narrow ones where needed.
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"

configure() {  # configure <build dir> <cmake options...>
  local dir="$1"
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DW2S_TEST_ASSETS="$W2S_TEST_ASSETS" -DW2S_BUILD_BENCH=OFF "$@" >"$dir/w2s-configure.log" 2>&1 ||
    { tail -n 20 "$dir/w2s-configure.log"; return 1; }
}
mkdir -p build-asan build-tsan
# A suite that ran to its end: its time is remembered for the next run's estimate.
suite_done() {  # suite_done <suite> <what it covered> <ok: 1|0>
  remember "$1" $((SECONDS - suite_start))
  (($3)) && passed+=("$2")
}

# ---- ASan + UBSan: everything -----------------------------------------------------------------------
if wants asan && fits asan; then
  suite_start=$SECONDS
  begin "asan build"
  if configure build-asan -DW2S_SANITIZE=address,undefined && cmake --build build-asan -j2; then
    end "ok"
    begin "asan tests"
    if ctest --test-dir build-asan --output-on-failure -j2 ${asan_tests:+-R "$asan_tests"}; then
      end "ok"
      suite_done asan "ASan+UBSan+LSan: the whole test suite${asan_tests:+ matching $asan_tests}" 1
    else
      end "FAILED"
      fail "tests failed under ASan+UBSan (build-asan; the report is above)"
      suite_done asan "" 0
    fi
  else
    end "FAILED"
    fail "the ASan+UBSan build failed"
  fi
fi

# ---- TSan: the client and the in-context experiments ------------------------------------------------
if wants tsan && fits tsan; then
  suite_start=$SECONDS
  begin "tsan build"
  tsan_tests=(tests/llm/test_llm tests/icl/test_icl tests/icl/test_icl_integration)
  if configure build-tsan -DW2S_SANITIZE=thread -DW2S_WITH_TORCH=OFF &&
    cmake --build build-tsan -j2 --target test_llm llm_batch_runner test_icl test_icl_integration w2s; then
    end "ok"
    begin "tsan tests"
    # A kernel with more address-space randomisation than this TSan runtime maps around makes it
    # stop at start ("unexpected memory mapping"); the tests then run with randomisation off.
    run_tsan=()
    if ! build-tsan/tests/icl/test_icl --gtest_list_tests >/dev/null 2>&1 && command -v setarch >/dev/null; then
      run_tsan=(setarch "$(uname -m)" -R)
      echo "ThreadSanitizer cannot start with this kernel's address-space randomisation: running with setarch -R"
    fi
    tsan_ok=1
    for t in "${tsan_tests[@]}"; do
      echo "-- $t"
      "${run_tsan[@]}" "build-tsan/$t" --gtest_brief=1 ||
        { tsan_ok=0; fail "$(basename "$t") failed under ThreadSanitizer (build-tsan; the report is above)"; }
    done
    end "$( ((tsan_ok)) && echo ok || echo FAILED)"
    suite_done tsan "TSan: test_llm, test_icl, test_icl_integration" "$tsan_ok"
  else
    end "FAILED"
    fail "the TSan build failed"
  fi
fi

# ---- fuzz targets: each briefly ---------------------------------------------------------------------
if wants fuzz && fits fuzz; then
  suite_start=$SECONDS
  begin "fuzz"
  set +e
  bash scripts/fuzz.sh --seconds "$fuzz_seconds"
  rc=$?
  set -e
  case $rc in
    0) end "ok"; suite_done fuzz "every fuzz target for ${fuzz_seconds} s" 1 ;;
    3) end "not run"; fail "clang with libFuzzer is not installed (scripts/install-deps.sh installs clang and libclang-rt-dev)" ;;
    *) end "FAILED"; fail "a fuzz target found a crash, hang or broken invariant, or did not build (see above)" ;;
  esac
fi

finish
}
