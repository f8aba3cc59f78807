#!/usr/bin/env bash
# README's main job: builds w2s (Release, -j2) and runs a full weak-to-strong fine-tuning experiment
# on the embedded default (`w2s train --preset demo`: built-in random-initialised models, SST-2),
# then the analysis and the figures. No API key, no GPU, no network: the data (sst2-demo, a subset
# of SST-2 in data/sst2-demo/) is built into w2s.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target w2s
./build/apps/w2s/w2s train --preset demo "$@"
./build/apps/w2s/w2s analyze results/demo
./build/apps/w2s/w2s plot results/demo
echo "records, analysis and figures: results/demo/"
