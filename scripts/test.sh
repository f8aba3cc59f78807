#!/usr/bin/env bash
# Builds w2s (Release, -j2) and runs the whole test suite with CTest (README's test command).
# Test assets: $W2S_TEST_ASSETS, defaulting to ../shared beside the checkout.
#   scripts/test.sh [tools|build|run]   one phase only (scripts/check-current-debian.sh times each);
#                                       no argument runs all three in order
set -euo pipefail
cd "$(dirname "$0")/.."
export W2S_TEST_ASSETS="${W2S_TEST_ASSETS:-$(cd .. && pwd)/shared}"
phase="${1:-all}"
case "$phase" in
  all | tools | build | run) ;;
  *) echo "test.sh: unknown phase '$phase' (expected tools, build or run)" >&2; exit 2 ;;
esac
if [[ $phase == all || $phase == tools ]]; then
  bash scripts/install-test-tools.sh
fi
if [[ $phase == all || $phase == build ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DW2S_TEST_ASSETS="$W2S_TEST_ASSETS"
  cmake --build build -j2
fi
if [[ $phase == all || $phase == run ]]; then
  ctest --test-dir build --output-on-failure -j2
fi
