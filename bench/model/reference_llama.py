"""The same Llama forward pass and training step as bench_model.cpp, written the straightforward
way in PyTorch (Debian python3-torch), for the ratio the benchmark prints.

usage: reference_llama.py VOCAB HIDDEN INTER LAYERS HEADS KV_HEADS BATCH SEQ REPEATS THREADS DEVICE DTYPE
(DEVICE: cpu | cuda:N; DTYPE: float32 | bfloat16 | float16 of the forward pass; training is float32)
prints: forward_wall_s=<s> forward_cpu_s=<s> train_wall_s=<s> train_cpu_s=<s>
(wall: time.perf_counter; CPU: time.process_time, every thread of this process; each over REPEATS)
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        h = x.float()
        return self.weight * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Layer(nn.Module):
    def __init__(self, hidden, inter, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.q_proj = nn.Linear(hidden, heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(heads * self.head_dim, hidden, bias=False)
        self.gate_proj = nn.Linear(hidden, inter, bias=False)
        self.up_proj = nn.Linear(hidden, inter, bias=False)
        self.down_proj = nn.Linear(inter, hidden, bias=False)
        self.norm1, self.norm2 = RMSNorm(hidden), RMSNorm(hidden)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.norm1(x)
        q = self.q_proj(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv_heads
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        scores = (q @ k.transpose(-2, -1)).float() / math.sqrt(self.head_dim) + mask
        attn = torch.softmax(scores, -1).to(v.dtype) @ v
        x = x + self.o_proj(attn.transpose(1, 2).reshape(b, t, -1))
        h = self.norm2(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, vocab, hidden, inter, layers, heads, kv_heads):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(Layer(hidden, inter, heads, kv_heads) for _ in range(layers))
        self.norm = RMSNorm(hidden)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)
        self.head_dim = hidden // heads

    def forward(self, ids):
        t = ids.shape[1]
        d = self.head_dim
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, d, 2, device=ids.device).float() / d))
        freqs = torch.arange(t, device=ids.device).float()[:, None] * inv_freq
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((t, t), torch.finfo(torch.float32).min, device=ids.device).triu(1)
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.norm(x))


def main():
    vocab, hidden, inter, layers, heads, kv_heads, batch, seq, repeats, threads = map(int, sys.argv[1:11])
    device, dtype = sys.argv[11], getattr(torch, sys.argv[12])
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    def finish():  # CUDA kernels run asynchronously: wait for them before reading the clock
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    model = Llama(vocab, hidden, inter, layers, heads, kv_heads).to(device, dtype)
    ids = torch.randint(0, vocab, (batch, seq), device=device)
    with torch.no_grad():
        model(ids)  # warm-up
        finish()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            model(ids)
        finish()
        forward_wall, forward_cpu = time.perf_counter() - wall, time.process_time() - cpu
    model = model.float()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)

    def step():
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab).float(), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    finish()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        step()
    finish()
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"forward_wall_s={forward_wall:.6f} forward_cpu_s={forward_cpu:.6f} "
          f"train_wall_s={train_wall:.6f} train_cpu_s={train_cpu:.6f}")


if __name__ == "__main__":
    main()
