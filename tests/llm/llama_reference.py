#!/usr/bin/env python3
"""Independent reference for `hilnas eval`: a Hugging Face Llama forward pass in NumPy.

Written from transformers' modeling_llama.py (LlamaRMSNorm, LlamaRotaryEmbedding with
rotate_half, repeat_kv for grouped-query attention, LlamaMLP, LlamaDecoderLayer), not from the
C engine, and computed in float64. Reads a checkpoint directory (config.json + model.safetensors,
F32/F16/BF16) with its own safetensors parser, plus hilnas' `attention_layers` extension (a
layer whose entry is false has no input_layernorm and no self_attn: only its MLP sub-block runs)
and the DeciLM / Nemotron-NAS `block_configs` form of the same (attention `no_op: true` for a
layer without attention, `n_heads_in_group` = query heads per KV head; read in preference to
attention_layers, which must agree when both are present).

usage: llama_reference.py CHECKPOINT --data FILE.bin --seq T [--batches N] [--batch B]
Prints {"loss": mean cross-entropy in nats, "tokens": predicted tokens} over the windows
`hilnas eval` uses: window i is tokens i*T .. i*T+T of the file (little-endian uint16).

usage: llama_reference.py CHECKPOINT --text FILE --llama-perplexity N_CTX
Prints {"ppl": ..., "count": ...} computed as llama.cpp's llama-perplexity does (without BOS): the
file's bytes as token ids, cut into chunks of N_CTX tokens, each scored on its second half
(positions N_CTX/2 .. N_CTX-2 predicting the next token).

usage: llama_reference.py DIR --write-random CONFIG_JSON [--dtype F32|F16|BF16] [--seed S]
Writes a checkpoint with random weights the way a Python exporter would (tensors in name order,
header padded with spaces), for the engine to read.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        raw = blob[base + lo : base + hi]
        dtype = info["dtype"]
        if dtype == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dtype == "F16":
            a = np.frombuffer(raw, dtype="<f2")
        elif dtype == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view("<f4")
        else:
            sys.exit(f"{path}: tensor {name}: dtype {dtype} not handled by the reference")
        tensors[name] = a.astype(np.float64).reshape(info["shape"])
    return tensors


def write_random(directory, cfg, dtype, seed):
    """A checkpoint as a Python exporter would write it: config.json as given, random weights
    (matrices N(0, 0.2), norms 1 + N(0, 0.1)) in dtype F32, F16 or BF16, tensors in name order."""
    rng = np.random.default_rng(seed)
    C = cfg["hidden_size"]
    NH = cfg["num_attention_heads"]
    KVH = cfg.get("num_key_value_heads") or NH
    HD = cfg.get("head_dim") or C // NH
    F, V, L = cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    attention = cfg.get("attention_layers") or [True] * L
    shapes = {"model.embed_tokens.weight": [V, C], "model.norm.weight": [C]}
    if not cfg.get("tie_word_embeddings", True):
        shapes["lm_head.weight"] = [V, C]
    for l in range(L):
        p = f"model.layers.{l}."
        if attention[l]:
            shapes[p + "input_layernorm.weight"] = [C]
            shapes[p + "self_attn.q_proj.weight"] = [NH * HD, C]
            shapes[p + "self_attn.k_proj.weight"] = [KVH * HD, C]
            shapes[p + "self_attn.v_proj.weight"] = [KVH * HD, C]
            shapes[p + "self_attn.o_proj.weight"] = [C, NH * HD]
        shapes[p + "post_attention_layernorm.weight"] = [C]
        shapes[p + "mlp.gate_proj.weight"] = [F, C]
        shapes[p + "mlp.up_proj.weight"] = [F, C]
        shapes[p + "mlp.down_proj.weight"] = [C, F]
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(shapes):
        shape = shapes[name]
        if len(shape) == 1:
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            a = 0.2 * rng.standard_normal(shape)
        a = a.astype(np.float32)
        if dtype == "F32":
            raw = a.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()
        else:  # BF16, rounded to nearest even as torch does
            u = a.view(np.uint32).astype(np.uint64)
            u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
            raw = u.astype("<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def rms_norm(x, w, eps):
    var = np.mean(x * x, axis=-1, keepdims=True)
    return w * (x / np.sqrt(var + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def layer_plan(cfg, NH, KVH):
    """KV heads of each layer, None for a layer without attention."""
    L = cfg["num_hidden_layers"]
    blocks = cfg.get("block_configs")
    if blocks is None:
        attention = cfg.get("attention_layers") or [True] * L
        return [KVH if a else None for a in attention]
    if len(blocks) != L:
        sys.exit(f"block_configs has {len(blocks)} entries for {L} layers")
    plan = []
    for l, b in enumerate(blocks):
        att, ffn = b["attention"], b["ffn"]
        if att.get("replace_with_linear") or ffn.get("no_op") or ffn.get("replace_with_linear"):
            sys.exit(f"block_configs[{l}]: linear or no-op FFN blocks are not handled")
        if att.get("no_op"):
            plan.append(None)
        else:
            g = att["n_heads_in_group"]
            if NH % g != 0:
                sys.exit(f"block_configs[{l}]: n_heads_in_group {g} does not divide {NH} heads")
            plan.append(NH // g)
    if "attention_layers" in cfg and [p is not None for p in plan] != list(cfg["attention_layers"]):
        sys.exit("block_configs and attention_layers disagree")
    return plan


def forward(cfg, w, tokens):
    """tokens (B, T) -> logits (B, T, V)"""
    B, T = tokens.shape
    C = cfg["hidden_size"]
    NH = cfg["num_attention_heads"]
    KVH = cfg.get("num_key_value_heads") or NH
    HD = cfg.get("head_dim") or C // NH
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    L = cfg["num_hidden_layers"]
    kv_heads = layer_plan(cfg, NH, KVH)

    inv_freq = 1.0 / (theta ** (np.arange(0, HD, 2, dtype=np.float64) / HD))
    freqs = np.outer(np.arange(T, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb), np.sin(emb)  # (T, HD)
    mask = np.triu(np.full((T, T), -np.inf), k=1)

    x = w["model.embed_tokens.weight"][tokens]  # (B, T, C)
    for l in range(L):
        p = f"model.layers.{l}."
        if kv_heads[l] is not None:
            KVH = kv_heads[l]
            h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
            q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(B, T, NH, HD).transpose(0, 2, 1, 3)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(B, T, KVH, HD).transpose(0, 2, 1, 3)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(B, T, KVH, HD).transpose(0, 2, 1, 3)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = np.repeat(k, NH // KVH, axis=1)  # repeat_kv: query head i uses kv head i // groups
            v = np.repeat(v, NH // KVH, axis=1)
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(HD) + mask
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            o = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, NH * HD)
            x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (g / (1.0 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    return x @ head.T


def round_weights(w, how):
    """Every matrix (2-D tensor) rounded to a deployment precision, as the deployed model holds
    it: bf16 (nearest even), f16 (NumPy's float16), q8_0 (per row, blocks of 32: scale
    max|w|/127 stored as float16, q = round(w / scale) half away from zero in float32)."""
    for name, a in w.items():
        if a.ndim != 2 or how == "f32":
            continue
        f = a.astype(np.float32)
        if how == "f16":
            r = f.astype(np.float16).astype(np.float64)
        elif how == "bf16":
            u = f.view(np.uint32).astype(np.uint64)
            u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
            r = u.astype(np.uint32).view(np.float32).astype(np.float64)
        else:
            rows, cols = f.shape
            pad = (-cols) % 32
            b = np.pad(f, ((0, 0), (0, pad))).reshape(rows, -1, 32)
            d = (np.abs(b).max(axis=-1, keepdims=True) / np.float32(127)).astype(np.float32)
            inv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0).astype(np.float32)
            x = (b * inv).astype(np.float32)
            q = np.clip(np.sign(x) * np.floor(np.abs(x) + np.float32(0.5)), -127, 127)
            r = (q.astype(np.float64) * d.astype(np.float16).astype(np.float64))
            r = r.reshape(rows, -1)[:, :cols]
        w[name] = r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--data")
    ap.add_argument("--seq", type=int)
    ap.add_argument("--batches", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--write-random", metavar="CONFIG_JSON",
                    help="write a random checkpoint with this config.json text instead")
    ap.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--round", default="f32", choices=["f32", "bf16", "f16", "q8_0"],
                    help="evaluate with the matrices rounded to this deployment precision")
    ap.add_argument("--text")
    ap.add_argument("--llama-perplexity", type=int, metavar="N_CTX")
    a = ap.parse_args()
    if a.write_random is not None:
        write_random(a.checkpoint, json.loads(a.write_random), a.dtype, a.seed)
        return
    with open(os.path.join(a.checkpoint, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(a.checkpoint, "model.safetensors"))
    round_weights(w, a.round)
    if a.llama_perplexity is not None:
        n = a.llama_perplexity
        with open(a.text, "rb") as f:
            tok = np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)
        chunks = len(tok) // n
        first, nll, count = n // 2, 0.0, 0
        for c in range(chunks):
            x = tok[c * n : (c + 1) * n][None, :]
            logits = forward(cfg, w, x)[0]
            for j in range(first, n - 1):
                row = logits[j]
                m = row.max()
                nll += float(m + np.log(np.exp(row - m).sum()) - row[x[0, j + 1]])
                count += 1
        print(json.dumps({"ppl": float(np.exp(nll / count)), "count": count}))
        return
    if a.data is None or a.seq is None:
        ap.error("--data and --seq are required")
    tok = np.fromfile(a.data, dtype="<u2").astype(np.int64)
    T = a.seq
    windows = (len(tok) - 1) // T
    if a.batches > 0:
        windows = min(windows, a.batches * a.batch)
    total, count = 0.0, 0
    for w0 in range(0, windows, a.batch):
        idx = range(w0, min(windows, w0 + a.batch))
        xs = np.stack([tok[i * T : i * T + T] for i in idx])
        ys = np.stack([tok[i * T + 1 : i * T + T + 1] for i in idx])
        logits = forward(cfg, w, xs)
        m = logits.max(axis=-1, keepdims=True)
        lse = (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))[..., 0]
        picked = np.take_along_axis(logits, ys[..., None], axis=-1)[..., 0]
        total += float((lse - picked).sum())
        count += ys.size
    print(json.dumps({"loss": total / count, "tokens": count}))


if __name__ == "__main__":
    main()
