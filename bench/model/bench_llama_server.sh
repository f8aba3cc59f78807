#!/usr/bin/env bash
# The whole default in-context study (baseline, gold-sweep, weak-sweep; docs/icl.md) run by w2s's
# local provider and by llama.cpp's llama-server serving the same weights as F32 GGUF with its prompt
# cache, the server driven by w2s's API client. llama-server, its HF-to-GGUF converter and Python
# come from the current-Debian root that scripts/check-current-debian.sh builds (Debian 12 has no
# llama.cpp); the server runs in that root (chroot), on this machine's loopback.
#
# usage: bench/model/bench_llama_server.sh [--build DIR] [--root DIR] [--work DIR] [--rounds R]
#          [--threads N] [--questions Q] [--layers L] [--cases stories,896] [--concurrency C] [--install]
#   --build DIR      CMake build folder whose apps/w2s/w2s and w2s-torch are run (default build)
#   --root DIR       the current-Debian root (default $W2S_CURRENT_DEBIAN_ROOT, else /var/tmp/w2s-current-debian)
#   --work DIR       models and results (default /var/tmp/w2s-bench-llama-server; models are reused)
#   --rounds R       interleaved rounds, w2s local then llama-server in each (default 3, at least 3)
#   --threads N      threads of both sides: w2s --threads N, llama-server -t N (default 1)
#   --questions Q    test questions (--test-size; default 4)
#   --layers L       layers of the 0.5B-width models (default 2)
#   --cases LIST     stories (the real stories260K pair), 896 (random Llama at Qwen2.5-0.5B's width); default both
#   --concurrency C  requests the API client keeps in flight (default 1: llama-server runs one slot, and
#                    requests sent together reach it out of order, which defeats its prompt cache)
#   --install        install llama.cpp-tools, python3-gguf, python3-transformers, python3-torch in the root
#                    when missing (apt-get there; without it a missing package stops the bench, naming this flag)
# Needs root (chroot, a private mount namespace) and $W2S_TEST_ASSETS (data/, models/). It holds the
# root's lock (<root>.lock, as the check does) while it runs. docs/benchmarks.md says what it measures.
set -euo pipefail
{ # read whole before running: it runs for minutes and may be edited meanwhile

here=$(cd "$(dirname "$0")/../.." && pwd)
args=("$@")
build=build
root=${W2S_CURRENT_DEBIAN_ROOT:-/var/tmp/w2s-current-debian}
work=/var/tmp/w2s-bench-llama-server
rounds=3 threads=1 questions=4 layers=2 cases=stories,896 concurrency=1 install=0
usage() { sed -n '8,23p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --build) build=${2:?--build needs a folder}; shift ;;
    --root) root=${2:?--root needs a folder}; shift ;;
    --work) work=${2:?--work needs a folder}; shift ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --threads) threads=${2:?--threads needs a number}; shift ;;
    --questions) questions=${2:?--questions needs a number}; shift ;;
    --layers) layers=${2:?--layers needs a number}; shift ;;
    --cases) cases=${2:?--cases needs a list}; shift ;;
    --concurrency) concurrency=${2:?--concurrency needs a number}; shift ;;
    --install) install=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench_llama_server: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "bench_llama_server: $*" >&2; exit 2; }
for n in rounds threads questions layers concurrency; do [[ ${!n} =~ ^[0-9]+$ ]] || die "--$n needs a whole number, got '${!n}'"; done
((rounds >= 3)) || die "--rounds must be at least 3 (interleaved medians)"
((threads >= 1 && questions >= 1 && layers >= 1 && concurrency >= 1)) ||
  die "--threads, --questions, --layers and --concurrency must be at least 1"
IFS=, read -r -a case_list <<<"$cases"
for c in "${case_list[@]}"; do [[ $c = stories || $c = 896 ]] || die "--cases: unknown case '$c' (stories, 896)"; done
[[ $build = /* ]] || build=$here/$build
w2s=$build/apps/w2s/w2s
[[ -x $w2s && -x $build/apps/w2s/w2s-torch ]] || die "$w2s and w2s-torch are not built (cmake --build $build -j2)"
assets=${W2S_TEST_ASSETS:-$(cd "$here/.." && pwd)/shared}
[[ -f $assets/data/truthfulqa/data/mc_task.json && -d $assets/models/hf/stories260K-llama ]] ||
  die "set W2S_TEST_ASSETS to the shared assets (data/truthfulqa, models/hf/stories260K-llama); $assets lacks them"
[[ -f $root/.w2s-bootstrap-done ]] ||
  die "no current-Debian root at $root (bash scripts/check-current-debian.sh builds it; --root names another)"
(($(id -u) == 0)) || die "needs root: it enters $root with chroot and mounts /proc there"

# A private mount namespace: the mounts below vanish with this process, however it ends.
if [[ -z ${W2S_BENCH_IN_NAMESPACE:-} ]]; then
  W2S_BENCH_IN_NAMESPACE=1 exec unshare --mount --propagation private bash "$0" "${args[@]}"
fi
exec 9>"$root.lock"
flock -w 600 9 || die "the root $root is in use (its lock $root.lock was held for 10 minutes)"
mkdir -p "$work"
work=$(cd "$work" && pwd)
inside=/w2s/bench-llama-server  # $work as the root sees it
for m in proc dev run "${inside#/}"; do mkdir -p "$root/$m"; done
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mount --bind "$work" "$root$inside"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"  # for --install
root_env=(/usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
  ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy})
in_root() { chroot "$root" "${root_env[@]}" "$@"; }

# ---- packages --------------------------------------------------------------------------------------
packages=(llama.cpp-tools python3-gguf python3-transformers python3-torch)
missing=()
for p in "${packages[@]}"; do
  [[ $(in_root dpkg-query -W -f='${Status}' "$p" 2>/dev/null) = "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  ((install)) || die "missing in $root: ${missing[*]} (rerun with --install, which runs apt-get install there)"
  echo "installing in $root: ${missing[*]}"
  in_root apt-get update -q >"$work/apt.log" 2>&1 &&
    in_root apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$work/apt.log" 2>&1 ||
    { tail -n 15 "$work/apt.log" >&2; die "apt-get install ${missing[*]} failed in $root (log $work/apt.log)"; }
fi
converter=$(in_root dpkg -L llama.cpp-tools | grep '/convert_hf_to_gguf\.py$' | head -n 1)
[[ -n $converter ]] || die "llama.cpp-tools in $root ships no convert_hf_to_gguf.py"
versions="llama-server $(in_root llama-server --version 2>&1 | grep -m1 '^version' | cut -d' ' -f2-);"
versions+=" $(in_root dpkg-query -W -f='${Package} ${Version}, ' llama.cpp-tools python3-gguf libggml0)"
versions+=" w2s $(git -C "$here" rev-parse --short=12 HEAD)"

# ---- models ----------------------------------------------------------------------------------------
# One chat template on both sides: w2s's plain transcript (what it sends a model without a template),
# written as Jinja, so both render the same text. llama-server reads it from the GGUF (the converter
# copies chat_template.jinja) and, as transformers does, drops the leading BOS text, then tokenizes
# with the model's add_bos: the same tokens as w2s, which tokenizes the rendered text as it is.
template=$work/plain.jinja
printf '%s' "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}System: {% elif message['role'] == 'user' %}User: {% else %}Assistant: {% endif %}{{ message['content'] }}

{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}" >"$template"

# to_gguf NAME: $work/hf/NAME -> $work/gguf/NAME.gguf (F32) with the converter llama.cpp-tools ships.
to_gguf() {
  mkdir -p "$work/gguf"
  in_root python3 "$converter" "$inside/hf/$1" --outtype f32 --outfile "$inside/gguf/$1.gguf" >"$work/convert-$1.log" 2>&1 ||
    { tail -n 15 "$work/convert-$1.log" >&2; die "converting $1 to GGUF failed (log $work/convert-$1.log)"; }
}
# random_llama NAME HIDDEN HEADS KV_HEADS INTERMEDIATE SEED: a random Llama with GPT-2's tokenizer,
# made again only when its shape changed.
random_llama() {
  local name=$1 spec="hidden $2 heads $3/$4 intermediate $5 layers $layers seed $6, letter rows"
  [[ -f $work/gguf/$name.gguf && $(cat "$work/hf/$name/.spec" 2>/dev/null) = "$spec" ]] && return
  rm -rf "$work/hf/$name"
  "$build/apps/w2s/w2s-torch" model new "$work/hf/$name" --model-type llama --quiet \
    --tokenizer "$assets/models/hf/fake-gpt2-tiny-random" --chat-template "$template" --hidden-size "$2" \
    --layers "$layers" --heads "$3" --kv-heads "$4" --set "intermediate_size=$5" \
    --set max_position_embeddings=8192 --set eos_token_id=50256 --seed "$6" >/dev/null
  # A random model's first token is almost never an option letter: llama-server returns 20
  # alternatives (w2s local scores every letter token), so the API side's weak labels would all be
  # unusable and its weak-sweep would stop. One coordinate of the LM head's rows of " A", " B"
  # (+1000) and " C", " D" (-1000) puts two of the letters on top whatever the sign of that
  # coordinate of the final hidden state: every answer is a letter, on both sides.
  in_root python3 - "$inside/hf/$name" <<'EOF' || die "could not set the letter rows of $name's LM head"
import json, sys
from safetensors.numpy import load_file, save_file
d = sys.argv[1]
vocab = json.load(open(f"{d}/tokenizer.json"))["model"]["vocab"]
w = load_file(f"{d}/model.safetensors")
head = w["lm_head.weight"].copy()
for letter, sign in (("A", 1), ("B", 1), ("C", -1), ("D", -1)):
    head[vocab["\u0120" + letter], 0] = sign * 1000.0
w["lm_head.weight"] = head
save_file(w, f"{d}/model.safetensors", metadata={"format": "pt"})
EOF
  to_gguf "$name"
  echo "$spec" >"$work/hf/$name/.spec"
}
# stories260K: the shared HF twin with the template; its conversion must give the shared GGUF's
# tensors exactly (the converter's Q/K permutation undoes the one the twin was made with).
stories() {
  rm -rf "$work/hf/stories260K"
  mkdir -p "$work/hf"
  cp -r "$assets/models/hf/stories260K-llama" "$work/hf/stories260K"
  chmod -R u+w "$work/hf/stories260K"
  cp "$template" "$work/hf/stories260K/chat_template.jinja"
  to_gguf stories260K
  cp "$assets/models/gguf/stories260K.gguf" "$work/gguf/stories260K-shared.gguf"
  in_root python3 - "$inside/gguf/stories260K.gguf" "$inside/gguf/stories260K-shared.gguf" <<'EOF' ||
import sys, numpy, gguf
a, b = ({t.name: numpy.asarray(t.data) for t in gguf.GGUFReader(f).tensors} for f in sys.argv[1:])
bad = [n for n in a.keys() | b.keys() if n not in a or n not in b or not numpy.array_equal(a[n], b[n])]
sys.exit(f"tensors differ: {sorted(bad)}" if bad else 0)
EOF
    die "stories260K converted from the HF twin differs from $assets/models/gguf/stories260K.gguf"
  rm "$work/gguf/stories260K-shared.gguf"
}

# ---- measuring -------------------------------------------------------------------------------------
ticks_per_s=$(getconf CLK_TCK)
load() { echo "load $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"; }
# tree_ticks PID [own]: CPU clock ticks (user + system, and those of reaped children) of PID and every
# process below it; with "own", of PID alone.
tree_ticks() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v top="$1" -v own="${2:-}" '
    { pid = $1; rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
      parent[pid] = f[2]; ticks[pid] = f[12] + f[13] + f[14] + f[15] }
    END { for (p in ticks) { q = p; while (q != "" && q != top && q > 1) q = parent[q]
                             if (q == top && (own == "" || p == top)) sum += ticks[p] }
          print sum + 0 }'
}
descendants() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v top="$1" '
    { pid = $1; rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " "); parent[pid] = f[2] }
    END { for (p in parent) { q = p; while (q != "" && q != top && q > 1) q = parent[q]; if (q == top) print p } }'
}
server="" cost=""
server_tree=()
stop_server() {
  [[ -n $server ]] || return 0
  mapfile -t server_tree < <(descendants "$server")
  kill -TERM "$server" 2>/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  # The router stops its model instances on SIGTERM; whatever is left after 10 s is killed.
  for p in "${server_tree[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$server" 2>/dev/null || true
  server=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# study SIDE RESULTS: the three commands of the study, one w2s process each (w2s local: w2s-torch,
# whose start-up is part of what a user pays), the first failure ends it. Models by directory or by
# served id.
study() {
  local side=$1 results=$2
  local common=(--data-dir "$assets/data" --test-size "$questions" --score logprobs --max-tokens 1 --no-cache
    --no-progress --quiet --results-dir "$results" --run-name "$side")
  if [[ $side = local ]]; then
    common+=(--provider local --threads "$threads")
    "$w2s" baseline "${common[@]}" --models "$local_models" || return
    "$w2s" gold-sweep "${common[@]}" --shots "$shots" --models "$local_models" || return
    "$w2s" weak-sweep "${common[@]}" --shots "$shots" --pairs "$local_pair"
  else
    # llama-server checks no key; the client wants one to send.
    common+=(--base-url "http://127.0.0.1:$port/v1" --max-concurrency "$concurrency")
    OPENROUTER_API_KEY=llama-server-no-key "$w2s" baseline "${common[@]}" --models "$api_models" || return
    OPENROUTER_API_KEY=llama-server-no-key "$w2s" gold-sweep "${common[@]}" --shots "$shots" --models "$api_models" || return
    OPENROUTER_API_KEY=llama-server-no-key "$w2s" weak-sweep "${common[@]}" --shots "$shots" --pairs "$api_pair"
  fi
}
# timed VAR COMMAND...: runs it (output to the case's log); VAR gets "wall user+sys" of it and its children.
timed() {
  local var=$1 t0 t1 c0 c1
  shift
  times >"$work/.times"  # here, not in a subshell: a forked shell's children's times start at 0
  c0=$(sed -n 2p "$work/.times")
  t0=$(date +%s.%N)
  "$@" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "failed: $* (log $log)"; }
  t1=$(date +%s.%N)
  times >"$work/.times"
  c1=$(sed -n 2p "$work/.times")
  printf -v "$var" '%s' "$(awk -v a="$t0" -v b="$t1" -v c0="$c0" -v c1="$c1" '
    function s(t,  m) { split(t, m, /[ms]/); return m[1] * 60 + m[2] }
    BEGIN { split(c0, x, " "); split(c1, y, " "); printf "%.3f %.3f", b - a, s(y[1]) + s(y[2]) - s(x[1]) - s(x[2]) }')"
}
# prompt_tokens RESULTS SIDE: prompt tokens of every record of the side, as its provider counted them.
prompt_tokens() {
  in_root python3 -c 'import json, pathlib, sys
print(sum(json.loads(p.read_text())["cost"]["total"]["prompt_tokens"] for p in pathlib.Path(sys.argv[1]).rglob("*.json")))' "$inside/${1#"$work"/}/$2"
}
spread() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "%.3g [%.3g..%.3g]", m, v[1], v[NR] }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "bench_llama_server: $rounds interleaved rounds, $threads thread(s) each side, $questions questions," \
  "API client concurrency $concurrency; $(load)"
echo "  $versions"
echo "  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/^Mem/ { print $2 }') GiB"
for case_name in "${case_list[@]}"; do
  if [[ $case_name = stories ]]; then
    stories
    # stories260K's context is 2,048 tokens: 4 shots (~1,200 tokens) is the most that fits.
    shots=0,2,4 ctx=2048
    local_models=$work/hf/stories260K local_pair=$local_models:$local_models
    api_models=stories260K api_pair=stories260K:stories260K
    about="stories260K (real, dim 64, 5 layers, 8/4 heads, vocab 512) as weak and strong; shots $shots"
  else
    # Qwen2.5-0.5B's width and heads, weak model half as wide in whole heads (bench_local_icl's).
    random_llama weak448 448 7 1 2432 2
    random_llama strong896 896 14 2 4864 1
    shots=0,2,4,8,16,32,64 ctx=8192
    local_models=$work/hf/weak448,$work/hf/strong896 local_pair=$work/hf/weak448:$work/hf/strong896
    api_models=weak448,strong896 api_pair=weak448:strong896
    about="random Llama, GPT-2 tokenizer: weak hidden 448 (7/1 heads, MLP 2432), strong 896 (14/2 heads, MLP 4864), $layers layers; shots $shots"
  fi
  # The router serves every GGUF of the folder under its file name, one model instance (a child
  # llama-server) per model; -np 1: one slot, whose prompt cache every request of a point reuses.
  models_dir=$work/served-$case_name
  rm -rf "$models_dir"
  mkdir -p "$models_dir"
  for m in ${api_models//,/ }; do ln "$work/gguf/$m.gguf" "$models_dir/$m.gguf"; done
  log=$work/$case_name.log
  : >"$log"
  echo
  echo "== $case_name: $about; $(load)"
  local_wall=() local_cpu=() api_wall=() api_cpu=() server_cpu=() router_cpu=() client_cpu=() ready_s=()
  for ((r = 1; r <= rounds; r++)); do
    results=$work/results-$case_name/round-$r
    rm -rf "$results"
    timed cost study local "$results"
    read -r wall cpu <<<"$cost"
    local_wall+=("$wall") local_cpu+=("$cpu")
    printf '  round %d  w2s local     wall %7.2f s  CPU %7.2f s  (%s)\n' "$r" "$wall" "$cpu" "$(load)"

    port=$((20000 + RANDOM % 20000))
    ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" || die "port $port is taken"
    t0=$(date +%s.%N)
    chroot "$root" "${root_env[@]}" llama-server --models-dir "$inside/served-$case_name" --models-max 2 \
      --host 127.0.0.1 --port "$port" -t "$threads" -np 1 -c "$ctx" -ctk f32 -ctv f32 --cache-prompt \
      </dev/null >"$work/server-$case_name-$r.log" 2>&1 &
    server=$!
    for ((i = 0; i < 300; i++)); do
      curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" && break
      kill -0 "$server" 2>/dev/null || { tail -n 20 "$work/server-$case_name-$r.log" >&2; die "llama-server exited"; }
      sleep 0.1
    done
    ((i < 300)) || die "llama-server not ready within 30 s (log $work/server-$case_name-$r.log)"
    ready_s+=("$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')")
    timed cost study api "$results"
    read -r _ client <<<"$cost"
    ticks=$(tree_ticks "$server") own=$(tree_ticks "$server" own)
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    stop_server
    scpu=$(awk -v t="$ticks" -v hz="$ticks_per_s" 'BEGIN { printf "%.3f", t / hz }')
    rcpu=$(awk -v t="$own" -v hz="$ticks_per_s" 'BEGIN { printf "%.3f", t / hz }')
    cpu=$(awk -v a="$scpu" -v b="$client" 'BEGIN { printf "%.3f", a + b }')
    api_wall+=("$wall") api_cpu+=("$cpu") server_cpu+=("$scpu") router_cpu+=("$rcpu") client_cpu+=("$client")
    # What its prompt cache left to compute: the model instances log each task's evaluated tokens.
    evaluated=$(grep -h 'prompt eval time' "$work/server-$case_name-$r.log" |
      awk '{ for (i = 2; i <= NF; i++) if ($i == "tokens") { n += $(i - 1); break } } END { print n + 0 }')
    printf '  round %d  llama-server  wall %7.2f s  CPU %7.2f s = server %.2f (router %.2f) + w2s client %.2f; %s prompt tokens evaluated  (%s)\n' \
      "$r" "$wall" "$cpu" "$scpu" "$rcpu" "$client" "$evaluated" "$(load)"
  done
  tokens_local=$(prompt_tokens "$results" local) tokens_api=$(prompt_tokens "$results" api)
  echo "  prompt tokens of the study (last round's records): w2s local $tokens_local, llama-server $tokens_api"
  echo "  w2s local:    wall $(spread "${local_wall[@]}") s, CPU $(spread "${local_cpu[@]}") s"
  echo "  llama-server: wall $(spread "${api_wall[@]}") s, CPU $(spread "${api_cpu[@]}") s" \
    "(server $(spread "${server_cpu[@]}"), of it the router $(spread "${router_cpu[@]}"); w2s client $(spread "${client_cpu[@]}");" \
    "from the server's start, model loads included; ready to listen after $(spread "${ready_s[@]}") s)"
  ratio_cpu=$(awk -v a="$(median "${api_cpu[@]}")" -v b="$(median "${local_cpu[@]}")" 'BEGIN { printf "%.3f", a / b }')
  ratio_wall=$(awk -v a="$(median "${api_wall[@]}")" -v b="$(median "${local_wall[@]}")" 'BEGIN { printf "%.3f", a / b }')
  echo "  llama-server/w2s local: CPU ${ratio_cpu}x, wall ${ratio_wall}x (target: CPU >= 2); $(load)"
  printf 'RATIO\t%s whole study llama-server/w2s local\tCPU\t%s\ttarget >= 2\n' "$case_name" "$ratio_cpu"
  printf 'RATIO\t%s whole study llama-server/w2s local\twall\t%s\t>1: w2s local is faster\n' "$case_name" "$ratio_wall"
done
exit 0
}
