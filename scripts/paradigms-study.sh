#!/usr/bin/env bash
# The README's study "In context and by fine-tuning, on the same weak labels": one weak/strong pair of
# local models on one registry dataset, both paradigms taught by the same weak labels (the fine-tuned
# floor's predictions on the strong half), then one analysis that puts them side by side.
#
#   WEAK=DIR_OR_HF_ID STRONG=DIR_OR_HF_ID bash scripts/paradigms-study.sh
#
# Settings (environment; defaults in brackets): DATASET [sst2], RUN [paradigms], RESULTS [results],
# SHOTS [0,2,4,8,16], N_TRAIN [1000], N_VAL [200], N_TEST [400], THREADS [2],
# W2S [build/apps/w2s/w2s of this checkout]. The data are read from $W2S_DATA_DIR (else ./data) and
# downloaded there when missing; a Hugging Face id is downloaded into $W2S_MODELS_DIR (else ./models).
# tests/apps/test_paradigms_study.cpp runs this script at a tiny size.
set -euo pipefail
w2s="${W2S:-$(cd "$(dirname "$0")/.." && pwd)/build/apps/w2s/w2s}"
weak="${WEAK:?set WEAK to the weak model (a local folder or a Hugging Face id)}"
strong="${STRONG:?set STRONG to the strong model (a local folder or a Hugging Face id)}"
results="${RESULTS:-results}"
run="${RUN:-paradigms}"
# The same data options in every command: both paradigms draw the same examples with the same ids.
data=(--dataset "${DATASET:-sst2}" --n-train "${N_TRAIN:-1000}" --n-val "${N_VAL:-200}" --n-test "${N_TEST:-400}"
      --results-dir "$results" --run-name "$run" --threads "${THREADS:-2}")
# Local models answer with the letter they give the most probability to at the first token: small
# models rarely write a parseable letter, and one token is all the score needs.
in_context=(--provider local --score logprobs --max-tokens 1 --test-size "${N_TEST:-400}")

# 1. Fine-tuning: the floor (weak model on gold), the ceiling (strong on gold), the student (strong
#    on the floor's predictions).
"$w2s" train "${data[@]}" --weak-model "$weak" --strong-model "$strong"
# 2. In context: both models zero-shot (the floor), the strong model with gold shots (the ceiling),
#    and the strong model with shots labelled by the fine-tuned floor (the student).
"$w2s" baseline "${data[@]}" "${in_context[@]}" --models "$weak,$strong"
"$w2s" gold-sweep "${data[@]}" "${in_context[@]}" --models "$strong" --shots "${SHOTS:-0,2,4,8,16}"
"$w2s" weak-sweep "${data[@]}" "${in_context[@]}" --pairs "$weak:$strong" --shots "${SHOTS:-0,2,4,8,16}" \
  --weak-labels-from "$results/$run"
# 3. Both paradigms side by side: tables and CSVs, figures, one HTML page.
"$w2s" analyze "$results/$run"
"$w2s" plot "$results/$run"
"$w2s" report "$results/$run"
