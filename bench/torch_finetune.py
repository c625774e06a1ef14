# The fine-tuning bench's PyTorch side: the same training step as bench/finetune-child.mjs (batch of
# BATCH x SEQ random tokens, causal-LM loss, backward, AdamW) in a plain PyTorch llama over the same
# safetensors weights, fp32 on the CPU. One configuration per process, so peak RSS is its own:
#   /usr/bin/python3 bench/torch_finetune.py MODEL_DIR lora|full THREADS BATCH SEQ STEPS -> one JSON line
# LoRA: r 16, alpha 32 on q/k/v/o, the base frozen (PEFT's init: A kaiming-uniform, B zero).
import json
import math
import os
import resource
import struct
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def read_safetensors(path):
    """Yields (name, f32 tensor) one at a time, so loading holds one tensor beyond the model's own."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        for name, info in header.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            f.seek(8 + n + a)
            t = torch.frombuffer(bytearray(f.read(b - a)), dtype=DTYPES[info["dtype"]])
            yield name, t.reshape(info["shape"]).float()


class Lora(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.a = nn.Parameter(torch.empty(r, base.in_features).uniform_(-1 / math.sqrt(base.in_features), 1 / math.sqrt(base.in_features)))
        self.b = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale


class RMSNorm(nn.Module):
    def __init__(self, c, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def attention(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):  # PyTorch ≥ 2.0
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # Debian bookworm's PyTorch 1.13 has no fused attention: the same computation, written out.
    T = q.shape[-2]
    s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, self.NH, self.NKV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.HS = C // self.NH
        Fi, eps = cfg["intermediate_size"], cfg["rms_norm_eps"]
        self.input_layernorm = RMSNorm(C, eps)
        self.post_attention_layernorm = RMSNorm(C, eps)
        self.q_proj = nn.Linear(C, self.NH * self.HS, bias=False)
        self.k_proj = nn.Linear(C, self.NKV * self.HS, bias=False)
        self.v_proj = nn.Linear(C, self.NKV * self.HS, bias=False)
        self.o_proj = nn.Linear(self.NH * self.HS, C, bias=False)
        self.gate_proj = nn.Linear(C, Fi, bias=False)
        self.up_proj = nn.Linear(C, Fi, bias=False)
        self.down_proj = nn.Linear(Fi, C, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.NH, self.HS).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.NKV, self.HS).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.NKV, self.HS).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.NH // self.NKV
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        a = attention(q, k, v)
        x = x + self.o_proj(a.transpose(1, 2).reshape(B, T, -1))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, V = cfg["hidden_size"], cfg["vocab_size"]
        self.embed_tokens = nn.Embedding(V, C)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(C, cfg["rms_norm_eps"])
        self.tied = cfg.get("tie_word_embeddings", False)
        self.lm_head = None if self.tied else nn.Linear(C, V, bias=False)
        HS = C // cfg["num_attention_heads"]
        self.inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, HS, 2).float() / HS))

    def forward(self, ids):
        T = ids.shape[1]
        f = torch.outer(torch.arange(T).float(), self.inv_freq)
        emb = torch.cat((f, f), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        x = self.norm(x)
        return x @ self.embed_tokens.weight.t() if self.tied else self.lm_head(x)


def load(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    model = Llama(cfg)
    own = model.state_dict()
    seen = set()
    with torch.no_grad():
        for name, t in read_safetensors(os.path.join(model_dir, "model.safetensors")):
            k = name.removeprefix("model.").replace("self_attn.", "").replace("mlp.", "")
            own[k].copy_(t)
            seen.add(k)
    missing = set(own) - seen
    if missing:
        raise SystemExit(f"{model_dir}: no weights for {sorted(missing)}")
    return cfg, model


def main():
    model_dir, method, threads, batch, seq, steps = sys.argv[1:7]
    B, T, threads, steps = int(batch), int(seq), int(threads), int(steps)
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    t0 = time.perf_counter()
    cfg, model = load(model_dir)
    if method == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.layers:
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                setattr(layer, name, Lora(getattr(layer, name), 16, 32))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    load_ms = (time.perf_counter() - t0) * 1000
    V = cfg["vocab_size"]

    def step():
        ids = torch.randint(0, V, (B, T))
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    step()
    times = []
    loss = 0.0
    for _ in range(steps):
        a = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - a) * 1000)
    print(
        json.dumps(
            {
                "load_ms": load_ms,
                "step_ms": times,
                "tokens_per_s": B * T * len(times) / (sum(times) / 1000),
                "loss": loss,
                "trainable": sum(p.numel() for p in params),
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
