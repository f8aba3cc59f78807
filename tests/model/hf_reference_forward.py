"""An independent causal-LM forward pass written from Hugging Face transformers' modelling code
(LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel, GPTNeoXForCausalLM,
Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM), in float64 with Debian's
python3-torch. test_hf_parity.cpp compares w2s's logits against it.

It shares nothing with the C++ code: it reads config.json and model.safetensors itself and follows
the transformers conventions directly: rotate_half RoPE with the default / linear / llama3 inverse
frequencies, repeat_kv for grouped-query attention, the sliding-window mask (q - k < window),
Qwen2's q/k/v biases, GPT-2's Conv1D weights stored [in, out] and its tanh GELU, GPT-NeoX's fused
query_key_value viewed per head as [heads, 3 * head_size], its rotary embedding on the first
int(head_size * rotary_pct) features and its parallel residual, Qwen3's per-head q/k RMSNorm,
Gemma's (1 + weight) RMSNorm, sqrt(hidden) embedding scale, sandwich norms, GeGLU,
query_pre_attn_scalar, soft-capping and alternating sliding-window layers, Gemma 3's q/k norms and
local rotary base, Phi-3's fused qkv_proj / gate_up_proj and longrope, tied embeddings, and
positions from the attention mask (cumsum - 1, as transformers' generate() computes them).
Configs in transformers 4's format (rope_theta / rope_scaling).

WRONG_CONVENTION (environment variable) makes the reference deliberately wrong in one named way
(gemma_norm_without_one, no_softcapping, qwen3_no_qk_norm, phi3_split_gate_up): the tests use it
to show that a wrong convention is noticed.

usage: hf_reference_forward.py MODEL_DIR INPUTS.safetensors OUT.safetensors
INPUTS holds input_ids and attention_mask (I64 [B, T]); OUT receives logits (F32 [B, T, V]).
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

WRONG = os.environ.get("WRONG_CONVENTION", "")
DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = blob[base + start : base + end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=DTYPES[info["dtype"]])
        tensors[name] = torch.from_numpy(array.copy()).reshape(info["shape"])
    return tensors


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, tensor in tensors.items():
        data = tensor.contiguous().numpy().astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def additive_mask(attention_mask, window=None):
    """[B, 1, T, T]: 0 where query t may attend key s (causal, key not padding, inside the window)."""
    t = attention_mask.shape[1]
    q = torch.arange(t)[:, None]
    k = torch.arange(t)[None, :]
    allowed = (k <= q)[None, :, :] & attention_mask.bool()[:, None, :]
    if window is not None:
        allowed = allowed & ((q - k) < window)[None, :, :]
    bias = torch.zeros(allowed.shape, dtype=torch.float64).masked_fill(~allowed, torch.finfo(torch.float64).min)
    return bias[:, None, :, :]


def positions(attention_mask):
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


# ---- Llama / Mistral / Qwen2 -------------------------------------------------------------------
def rope_inv_freq(config, dim, base, scaling=None):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    scaling = (config.get("rope_scaling") or {}) if scaling is None else scaling
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "linear":
        inv_freq = inv_freq / scaling["factor"]
    elif kind == "llama3":
        factor = scaling["factor"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old_len = scaling["original_max_position_embeddings"]
        low_freq_wavelen, high_freq_wavelen = old_len / low, old_len / high
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth = (old_len / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        inv_freq = torch.where(medium, smoothed, scaled)
    elif kind != "default":
        raise SystemExit(f"rope type {kind} not in this reference")
    return inv_freq


def rope_cos_sin(attention_mask, inv_freq):
    """cos, sin [B, 1, T, dim] at the positions of the attention mask."""
    freqs = positions(attention_mask)[:, :, None].double() * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[:, None], emb.sin()[:, None]


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def linear(w, x, prefix, name):
    y = x @ w[f"{prefix}.{name}.weight"].T
    bias = w.get(f"{prefix}.{name}.bias")
    return y if bias is None else y + bias


def llama_logits(config, w, ids, attention_mask):
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    eps = config.get("rms_norm_eps", 1e-6)
    window = None
    if config["model_type"] == "mistral" or config.get("use_sliding_window", False):
        window = config.get("sliding_window")
    b, t = ids.shape
    cos, sin = rope_cos_sin(attention_mask, rope_inv_freq(config, head_dim, config.get("rope_theta", 10000.0)))
    mask = additive_mask(attention_mask, window)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = rms_norm(x, w[f"{p}.input_layernorm.weight"], eps)
        q = linear(w, h, p, "self_attn.q_proj").view(b, t, heads, head_dim).transpose(1, 2)
        k = linear(w, h, p, "self_attn.k_proj").view(b, t, kv_heads, head_dim).transpose(1, 2)
        v = linear(w, h, p, "self_attn.v_proj").view(b, t, kv_heads, head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k[:, :, None].expand(b, kv_heads, heads // kv_heads, t, head_dim).reshape(b, heads, t, head_dim)
        v = v[:, :, None].expand(b, kv_heads, heads // kv_heads, t, head_dim).reshape(b, heads, t, head_dim)
        scores = q @ k.transpose(2, 3) / math.sqrt(head_dim) + mask
        attn = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, heads * head_dim)
        x = x + linear(w, attn, p, "self_attn.o_proj")
        h = rms_norm(x, w[f"{p}.post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(linear(w, h, p, "mlp.gate_proj"))
        x = x + linear(w, gate * linear(w, h, p, "mlp.up_proj"), p, "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


# ---- GPT-2 -----------------------------------------------------------------------------------
def conv1d(w, x, name):
    return x @ w[f"{name}.weight"] + w[f"{name}.bias"]  # Conv1D: weight is [in, out]


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def gpt2_logits(config, w, ids, attention_mask):
    hidden, heads = config["n_embd"], config["n_head"]
    head_dim = hidden // heads
    eps = config.get("layer_norm_epsilon", 1e-5)
    act = gelu_new if config.get("activation_function", "gelu_new") == "gelu_new" else torch.nn.functional.gelu

    def layer_norm(x, name):
        return torch.nn.functional.layer_norm(x, (hidden,), w[f"{name}.weight"], w[f"{name}.bias"], eps)

    b, t = ids.shape
    mask = additive_mask(attention_mask)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][positions(attention_mask)]
    for i in range(config["n_layer"]):
        p = f"transformer.h.{i}"
        qkv = conv1d(w, layer_norm(x, f"{p}.ln_1"), f"{p}.attn.c_attn")
        q, k, v = (part.view(b, t, heads, head_dim).transpose(1, 2) for part in qkv.split(hidden, dim=-1))
        scores = q @ k.transpose(2, 3) / math.sqrt(head_dim) + mask
        attn = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, hidden)
        x = x + conv1d(w, attn, f"{p}.attn.c_proj")
        x = x + conv1d(w, act(conv1d(w, layer_norm(x, f"{p}.ln_2"), f"{p}.mlp.c_fc")), f"{p}.mlp.c_proj")
    x = layer_norm(x, "transformer.ln_f")
    return x @ w["transformer.wte.weight"].T


# ---- GPT-NeoX (Pythia) ---------------------------------------------------------------------------
ACTIVATIONS = {"gelu": torch.nn.functional.gelu, "gelu_new": gelu_new, "gelu_fast": gelu_new,
               "gelu_pytorch_tanh": gelu_new}


def gpt_neox_logits(config, w, ids, attention_mask):
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_size = hidden // heads
    rotary_ndims = int(head_size * config.get("rotary_pct", 0.25))
    eps = config.get("layer_norm_eps", 1e-5)
    act = ACTIVATIONS[config.get("hidden_act", "gelu")]
    parallel = config.get("use_parallel_residual", True)

    def layer_norm(x, name):
        return torch.nn.functional.layer_norm(x, (hidden,), w[f"{name}.weight"], w[f"{name}.bias"], eps)

    def rotary(x, cos, sin):  # rotates the first rotary_ndims features, passes the rest
        x_rot, x_pass = x[..., :rotary_ndims], x[..., rotary_ndims:]
        return torch.cat((x_rot * cos + rotate_half(x_rot) * sin, x_pass), dim=-1)

    b, t = ids.shape
    inv_freq = rope_inv_freq(config, rotary_ndims, config.get("rotary_emb_base", 10000))
    cos, sin = rope_cos_sin(attention_mask, inv_freq)
    mask = additive_mask(attention_mask)
    x = w["gpt_neox.embed_in.weight"][ids]
    for i in range(config["num_hidden_layers"]):
        p = f"gpt_neox.layers.{i}"
        # query_key_value's output is [heads, 3 * head_size]: each head's q, k, v side by side.
        qkv = linear(w, layer_norm(x, f"{p}.input_layernorm"), p, "attention.query_key_value")
        qkv = qkv.view(b, t, heads, 3 * head_size).permute(0, 2, 1, 3)
        q, k, v = qkv[..., :head_size], qkv[..., head_size : 2 * head_size], qkv[..., 2 * head_size :]
        q, k = rotary(q, cos, sin), rotary(k, cos, sin)
        scores = q @ k.transpose(2, 3) / math.sqrt(head_size) + mask
        attn = (torch.softmax(scores, dim=-1) @ v).permute(0, 2, 1, 3).reshape(b, t, hidden)
        attn = linear(w, attn, p, "attention.dense")

        def mlp(h):
            return linear(w, act(linear(w, h, p, "mlp.dense_h_to_4h")), p, "mlp.dense_4h_to_h")

        if parallel:  # x + attn(ln1(x)) + mlp(ln2(x))
            x = mlp(layer_norm(x, f"{p}.post_attention_layernorm")) + attn + x
        else:  # y = x + attn(ln1(x)); y + mlp(ln2(y))
            y = attn + x
            x = mlp(layer_norm(y, f"{p}.post_attention_layernorm")) + y
    x = layer_norm(x, "gpt_neox.final_layer_norm")
    head = w.get("embed_out.weight", w["gpt_neox.embed_in.weight"])
    return x @ head.T


# ---- Qwen3 ----------------------------------------------------------------------------------------
def repeat_kv(x, rep):
    b, kv, t, d = x.shape
    return x[:, :, None].expand(b, kv, rep, t, d).reshape(b, kv * rep, t, d)


def qwen3_logits(config, w, ids, attention_mask):
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim", 128)
    eps = config.get("rms_norm_eps", 1e-6)
    window = config.get("sliding_window") if config.get("use_sliding_window", False) else None
    first_sliding = config.get("max_window_layers", 28)
    b, t = ids.shape
    cos, sin = rope_cos_sin(attention_mask, rope_inv_freq(config, head_dim, config.get("rope_theta", 10000.0)))
    full_mask, sliding_mask = additive_mask(attention_mask), additive_mask(attention_mask, window)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = rms_norm(x, w[f"{p}.input_layernorm.weight"], eps)
        q = linear(w, h, p, "self_attn.q_proj").view(b, t, heads, head_dim)
        k = linear(w, h, p, "self_attn.k_proj").view(b, t, kv_heads, head_dim)
        if WRONG != "qwen3_no_qk_norm":  # RMSNorm over each head's features, before RoPE
            q = rms_norm(q, w[f"{p}.self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[f"{p}.self_attn.k_norm.weight"], eps)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = linear(w, h, p, "self_attn.v_proj").view(b, t, kv_heads, head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, heads // kv_heads), repeat_kv(v, heads // kv_heads)
        mask = sliding_mask if window is not None and i >= first_sliding else full_mask
        scores = q @ k.transpose(2, 3) / math.sqrt(head_dim) + mask
        attn = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, heads * head_dim)
        x = x + linear(w, attn, p, "self_attn.o_proj")
        h = rms_norm(x, w[f"{p}.post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(linear(w, h, p, "mlp.gate_proj"))
        x = x + linear(w, gate * linear(w, h, p, "mlp.up_proj"), p, "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


# ---- Gemma 2 and Gemma 3 (text) -------------------------------------------------------------------
def gemma_rms_norm(x, weight, eps):
    normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return normed * (weight if WRONG == "gemma_norm_without_one" else 1.0 + weight)


def softcap(x, cap):
    return x if cap is None or WRONG == "no_softcapping" else torch.tanh(x / cap) * cap


def gemma_logits(config, w, ids, attention_mask):
    gemma3 = config["model_type"] == "gemma3_text"
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim", 256)
    eps = config.get("rms_norm_eps", 1e-6)
    n_layers = config["num_hidden_layers"]
    scaling = config.get("query_pre_attn_scalar", 256) ** -0.5
    attn_cap = config.get("attn_logit_softcapping", None if gemma3 else 50.0)
    final_cap = config.get("final_logit_softcapping", None if gemma3 else 30.0)
    window = config.get("sliding_window", 4096)
    if "layer_types" in config:
        sliding = [kind == "sliding_attention" for kind in config["layer_types"]]
    elif gemma3:
        pattern = config.get("sliding_window_pattern", 6)
        sliding = [bool((i + 1) % pattern) for i in range(n_layers)]
    else:
        sliding = [not bool(i % 2) for i in range(n_layers)]
    act = ACTIVATIONS[config.get("hidden_activation", "gelu_pytorch_tanh")]
    b, t = ids.shape
    global_rope = rope_cos_sin(attention_mask, rope_inv_freq(config, head_dim, config.get("rope_theta", 1e6 if gemma3 else 1e4)))
    local_rope = global_rope
    if gemma3:  # local layers: their own base, no scaling
        local_rope = rope_cos_sin(attention_mask, rope_inv_freq(config, head_dim, config.get("rope_local_base_freq", 1e4), {}))
    full_mask, sliding_mask = additive_mask(attention_mask), additive_mask(attention_mask, window)
    x = w["model.embed_tokens.weight"][ids] * hidden**0.5
    for i in range(n_layers):
        p = f"model.layers.{i}"
        h = gemma_rms_norm(x, w[f"{p}.input_layernorm.weight"], eps)
        q = linear(w, h, p, "self_attn.q_proj").view(b, t, heads, head_dim).transpose(1, 2)
        k = linear(w, h, p, "self_attn.k_proj").view(b, t, kv_heads, head_dim).transpose(1, 2)
        v = linear(w, h, p, "self_attn.v_proj").view(b, t, kv_heads, head_dim).transpose(1, 2)
        if gemma3:
            q = gemma_rms_norm(q, w[f"{p}.self_attn.q_norm.weight"], eps)
            k = gemma_rms_norm(k, w[f"{p}.self_attn.k_norm.weight"], eps)
        cos, sin = local_rope if sliding[i] else global_rope
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, heads // kv_heads), repeat_kv(v, heads // kv_heads)
        scores = softcap(q @ k.transpose(2, 3) * scaling, attn_cap)
        scores = scores + (sliding_mask if sliding[i] else full_mask)
        attn = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, heads * head_dim)
        x = x + gemma_rms_norm(linear(w, attn, p, "self_attn.o_proj"), w[f"{p}.post_attention_layernorm.weight"], eps)
        h = gemma_rms_norm(x, w[f"{p}.pre_feedforward_layernorm.weight"], eps)
        h = linear(w, act(linear(w, h, p, "mlp.gate_proj")) * linear(w, h, p, "mlp.up_proj"), p, "mlp.down_proj")
        x = x + gemma_rms_norm(h, w[f"{p}.post_feedforward_layernorm.weight"], eps)
    x = gemma_rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return softcap(x @ head.T, final_cap)


# ---- Phi-3 ----------------------------------------------------------------------------------------
def phi3_rope(config, head_dim, attention_mask):
    """cos, sin over the first int(head_dim * partial_rotary_factor) features; longrope as
    transformers' _compute_longrope_parameters with the per-forward short/long switch."""
    dim = int(head_dim * config.get("partial_rotary_factor", 1.0))
    base = config.get("rope_theta", 10000.0)
    scaling = dict(config.get("rope_scaling") or {})
    if scaling.get("type") in ("su", "yarn"):
        scaling["type"] = "longrope"
    if scaling.get("rope_type", scaling.get("type")) != "longrope":
        return rope_cos_sin(attention_mask, rope_inv_freq(config, dim, base, scaling))
    original = config.get("original_max_position_embeddings", 4096)
    factor = config["max_position_embeddings"] / original
    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    seq_len = int(positions(attention_mask).max()) + 1
    ext = torch.tensor(scaling["long_factor" if seq_len > original else "short_factor"], dtype=torch.float64)
    inv_freq = 1.0 / (ext * base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    cos, sin = rope_cos_sin(attention_mask, inv_freq)
    return cos * attention_factor, sin * attention_factor


def phi3_logits(config, w, ids, attention_mask):
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    inter = config["intermediate_size"]
    eps = config.get("rms_norm_eps", 1e-5)
    b, t = ids.shape
    cos, sin = phi3_rope(config, head_dim, attention_mask)
    rot = cos.shape[-1]
    mask = additive_mask(attention_mask, config.get("sliding_window"))

    def rotary(x):
        x_rot, x_pass = x[..., :rot], x[..., rot:]
        return torch.cat((x_rot * cos + rotate_half(x_rot) * sin, x_pass), dim=-1)

    x = w["model.embed_tokens.weight"][ids]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = rms_norm(x, w[f"{p}.input_layernorm.weight"], eps)
        qkv = linear(w, h, p, "self_attn.qkv_proj")
        q_end, k_end = heads * head_dim, heads * head_dim + kv_heads * head_dim
        q = qkv[..., :q_end].view(b, t, heads, head_dim).transpose(1, 2)
        k = qkv[..., q_end:k_end].view(b, t, kv_heads, head_dim).transpose(1, 2)
        v = qkv[..., k_end:].view(b, t, kv_heads, head_dim).transpose(1, 2)
        q, k = rotary(q), rotary(k)
        k, v = repeat_kv(k, heads // kv_heads), repeat_kv(v, heads // kv_heads)
        scores = q @ k.transpose(2, 3) / math.sqrt(head_dim) + mask
        attn = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, heads * head_dim)
        x = x + linear(w, attn, p, "self_attn.o_proj")
        h = rms_norm(x, w[f"{p}.post_attention_layernorm.weight"], eps)
        gate_up = linear(w, h, p, "mlp.gate_up_proj")
        gate, up = (gate_up[..., inter:], gate_up[..., :inter]) if WRONG == "phi3_split_gate_up" else gate_up.chunk(2, dim=-1)
        x = x + linear(w, up * torch.nn.functional.silu(gate), p, "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


FORWARDS = {"llama": llama_logits, "mistral": llama_logits, "qwen2": llama_logits, "gpt2": gpt2_logits,
            "gpt_neox": gpt_neox_logits, "qwen3": qwen3_logits, "gemma2": gemma_logits, "gemma3_text": gemma_logits,
            "phi3": phi3_logits}


def main():
    model_dir, inputs_path, out_path = sys.argv[1:4]
    with open(f"{model_dir}/config.json") as f:
        config = json.load(f)
    weights = {k: v.double() for k, v in read_safetensors(f"{model_dir}/model.safetensors").items()}
    inputs = read_safetensors(inputs_path)
    ids, attention_mask = inputs["input_ids"].long(), inputs["attention_mask"].long()
    forward = FORWARDS[config["model_type"]]
    with torch.no_grad():
        logits = forward(config, weights, ids, attention_mask)
    write_safetensors(out_path, {"logits": logits.float()})


if __name__ == "__main__":
    main()
