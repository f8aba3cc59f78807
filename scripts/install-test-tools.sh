#!/usr/bin/env bash
# npm reference implementations used by the tests (Hugging Face tokenizers), installed into
# tests/support/node_modules from tests/support/package.json. Idempotent; offline-safe when present.
set -euo pipefail
cd "$(dirname "$0")/../tests/support"
[[ -f package.json ]] || exit 0
if [[ ! -d node_modules ]] || [[ package.json -nt node_modules ]]; then
  npm install --no-audit --no-fund --loglevel=error
  touch node_modules
fi
