#!/usr/bin/env bash
# Installs every Debian package w2s needs to build, test and plot. Idempotent and non-interactive.
# One package list for Debian 12 (bookworm) and the current Debian (sid; scripts/check-current-debian.sh
# builds and tests there): every name below exists in both, so there is no per-release map.
#   --runtime-only   skip test-only packages (python3 reference implementations, npm tokenizers, the
#                    single-node Slurm of the sweep tests: slurm-wlm, munge)
#   --print          print the packages this machine would need, one a line, and install nothing
set -euo pipefail

runtime_only=0 print_only=0
for arg in "$@"; do
  case "$arg" in
    --runtime-only) runtime_only=1 ;;
    --print) print_only=1 ;;
    *) echo "install-deps: unknown option $arg (expected --runtime-only, --print)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config git ca-certificates ccache
  libcurl4-openssl-dev libssl-dev libsimdjson-dev libsqlite3-dev
  libboost-program-options-dev libfmt-dev libspdlog-dev libpcre2-dev libicu-dev nlohmann-json3-dev
  libtorch-dev libopenblas0-openmp
  libgtest-dev libgmock-dev libcpp-httplib-dev
  gnuplot-nox
)
# clang and its runtime libraries (libFuzzer) build the fuzz targets (scripts/fuzz.sh); python3-jinja2 renders
# the reference chat templates; chromium shows the HTML report in its test.
test_packages=(python3 python3-sklearn python3-aiohttp python3-torch python3-jsonschema python3-jinja2 slurm-wlm munge
               clang libclang-rt-dev chromium)

want=("${packages[@]}")
if ((!runtime_only)); then
  want+=("${test_packages[@]}")
  # Node.js (for the Hugging Face `tokenizers` reference in tests) may come from elsewhere than Debian.
  command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
fi

if ((print_only)); then
  printf '%s\n' "${want[@]}"
  exit 0
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi
