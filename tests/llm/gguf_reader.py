#!/usr/bin/env python3
"""Independent GGUF reader for the tests of `hilnas export --format gguf`.

Written from the GGUF specification (llama.cpp's ggml/include/gguf.h and docs), not from the C
writer: parses every key-value pair and tensor info, checks the layout (magic, version 3,
alignment of the data section and of every tensor, tensors inside the file and not
overlapping), then, with --check CHECKPOINT, compares the file with a Hugging Face checkpoint
(config.json + model.safetensors, read by tests/llm/llama_reference.py's own parser):

- metadata: architecture (llama when every layer has attention, else deci), context length,
  embedding length, block count, FFN length, head counts (per layer for deci, 0 for a layer
  without attention), key/value length = head_dim, RMS epsilon, RoPE base and dimension,
  vocabulary size, file type;
- tokenizer: gpt2-style byte-level vocabulary whose token i decodes (GPT-2's bytes_to_unicode,
  computed here) to byte i, all tokens normal, no merges, no BOS/EOS added;
- tensors: llama.cpp's names, shapes (ggml order: reversed), types (norms F32, the rest the
  given --dtype) and values: q and k un-permuted from llama.cpp's interleaved RoPE layout (the
  inverse of convert_hf_to_gguf.py's permute) must equal the checkpoint's rows; F16 and BF16
  must equal the F32 values rounded to nearest even (NumPy's float16 cast; BF16 by integer
  rounding); no tensor missing, none extra.

usage: gguf_reader.py FILE.gguf [--check CHECKPOINT --dtype F32|F16|BF16] [--dump]
Prints {"ok": true, "keys": N, "tensors": M, "arch": ...} or exits 1 naming what differs.

usage: gguf_reader.py FILE.gguf --data FILE.bin --seq T [--batches N] [--batch B]
Prints {"loss": ...}: the mean cross-entropy on `hilnas eval`'s windows computed from the GGUF
file alone, the way llama.cpp's llama/deci graphs compute (float64 here): RMS norms, RoPE in
llama.cpp's NORM mode (adjacent pairs rotate, on the permuted q/k rows as stored), grouped-query
attention with each layer's head counts from the metadata, and for a layer with 0 heads no
attention norm and no attention: x + ffn(ffn_norm(x)). It equals the Hugging Face model's loss
only if the export permuted q/k the way llama.cpp expects.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_reference import read_safetensors  # noqa: E402  (the reference's own parser)

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
          11: "<q", 12: "<d"}
GGML = {0: ("F32", 4), 1: ("F16", 2), 30: ("BF16", 2)}


class Reader:
    def __init__(self, blob):
        self.b, self.p = blob, 0

    def take(self, n):
        if self.p + n > len(self.b):
            fail(f"truncated at byte {self.p} (wanted {n} more)")
        out = self.b[self.p : self.p + n]
        self.p += n
        return out

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        n = self.unpack("<Q")
        return self.take(n).decode("utf-8")

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.unpack("<I"), self.unpack("<Q")
            if et == 9:
                fail("nested arrays are not expected here")
            return ("array", et, [self.value(et) for _ in range(n)])
        if t not in SCALAR:
            fail(f"unknown value type {t}")
        return self.unpack(SCALAR[t])


def fail(msg):
    print(f"gguf_reader: {msg}", file=sys.stderr)
    sys.exit(1)


def parse(path):
    with open(path, "rb") as f:
        blob = f.read()
    r = Reader(blob)
    if r.take(4) != b"GGUF":
        fail("bad magic")
    version = r.unpack("<I")
    if version != 3:
        fail(f"version {version}, expected 3")
    n_tensors, n_kv = r.unpack("<Q"), r.unpack("<Q")
    kv, types = {}, {}
    for _ in range(n_kv):
        key = r.string()
        t = r.unpack("<I")
        if key in kv:
            fail(f"key {key} twice")
        kv[key], types[key] = r.value(t), t
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.unpack("<I")
        ne = [r.unpack("<Q") for _ in range(nd)]
        gt, off = r.unpack("<I"), r.unpack("<Q")
        if gt not in GGML:
            fail(f"tensor {name}: type {gt} not expected")
        infos.append((name, ne, gt, off))
    align = kv.get("general.alignment", 32)
    if types.get("general.alignment", 4) != 4 or align & (align - 1):
        fail("general.alignment must be a uint32 power of two")
    base = (r.p + align - 1) // align * align
    if any(blob[r.p : base]):
        fail("padding before the data section is not zero")
    tensors, spans = {}, []
    for name, ne, gt, off in infos:
        if off % align:
            fail(f"tensor {name}: offset {off} not aligned to {align}")
        tname, size = GGML[gt]
        n = int(np.prod(ne))
        lo, hi = base + off, base + off + n * size
        if hi > len(blob):
            fail(f"tensor {name}: data past the end of the file")
        spans.append((lo, hi, name))
        raw = blob[lo:hi]
        if tname == "F32":
            a = np.frombuffer(raw, "<f4")
        else:
            a = np.frombuffer(raw, "<u2")
        if name in tensors:
            fail(f"tensor {name} twice")
        tensors[name] = (tname, ne, a)
    spans.sort()
    for (a0, a1, n0), (b0, b1, n1) in zip(spans, spans[1:]):
        if b0 < a1:
            fail(f"tensors {n0} and {n1} overlap")
    return kv, types, tensors


def bytes_to_unicode():
    """GPT-2's byte <-> printable code point table (openai/gpt-2 encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def expect(cond, msg):
    if not cond:
        fail(msg)


def arr(v):
    expect(isinstance(v, tuple) and v[0] == "array", f"expected an array, got {v!r}")
    return v[2]


def f32_round(x):
    return float(np.float32(x))


def unpermute(w, n_head):
    """Inverse of convert_hf_to_gguf.py's permute(w, n_head): llama.cpp's row order back to
    Hugging Face's (rotate-half) order."""
    rows, cols = w.shape
    hd = rows // n_head
    return w.reshape(n_head, hd // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def stored(values, dtype):
    """What the F32 values become in dtype, as the raw integers the file holds (F16/BF16) or
    floats (F32)."""
    v = np.asarray(values, dtype=np.float32)
    if dtype == "F32":
        return v
    if dtype == "F16":
        return v.astype("<f2").view("<u2")
    u = v.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")


def check(kv, types, tensors, ckpt, dtype):
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
    L, C = cfg["num_hidden_layers"], cfg["hidden_size"]
    NH = cfg["num_attention_heads"]
    KVH = cfg.get("num_key_value_heads") or NH
    HD = cfg.get("head_dim") or C // NH
    V, F = cfg["vocab_size"], cfg["intermediate_size"]
    att = cfg.get("attention_layers") or [True] * L
    uniform = all(att)
    arch = "llama" if uniform else "deci"
    expect(kv.get("general.architecture") == arch,
           f"general.architecture {kv.get('general.architecture')!r}, expected {arch}")
    ftype = {"F32": 0, "F16": 1, "BF16": 32}[dtype]
    expect(kv.get("general.file_type") == ftype, f"general.file_type {kv.get('general.file_type')}")

    def k(name):
        key = f"{arch}.{name}"
        expect(key in kv, f"missing key {key}")
        return kv[key]

    expect(k("context_length") == cfg.get("max_position_embeddings", 2048), "context_length")
    expect(k("embedding_length") == C, "embedding_length")
    expect(k("block_count") == L, "block_count")
    expect(k("vocab_size") == V, "vocab_size")
    expect(k("attention.key_length") == HD and k("attention.value_length") == HD, "key/value length")
    expect(k("rope.dimension_count") == HD, "rope.dimension_count")
    expect(k("attention.layer_norm_rms_epsilon") == f32_round(cfg.get("rms_norm_eps", 1e-6)),
           "layer_norm_rms_epsilon")
    expect(k("rope.freq_base") == f32_round(cfg.get("rope_theta", 10000.0)), "rope.freq_base")
    if uniform:
        expect(k("feed_forward_length") == F, "feed_forward_length")
        expect(k("attention.head_count") == NH, "head_count")
        expect(k("attention.head_count_kv") == KVH, "head_count_kv")
    else:
        expect(arr(k("feed_forward_length")) == [F] * L, "feed_forward_length per layer")
        expect(arr(k("attention.head_count")) == [NH if a else 0 for a in att],
               f"head_count per layer {arr(k('attention.head_count'))}")
        expect(arr(k("attention.head_count_kv")) == [KVH if a else 0 for a in att],
               "head_count_kv per layer")
        expect(att[0] or not any(att), "layer 0 without attention was exported for llama.cpp")
    # tokenizer: token i is byte i
    expect(kv.get("tokenizer.ggml.model") == "gpt2", "tokenizer.ggml.model")
    toks = arr(kv["tokenizer.ggml.tokens"])
    expect(len(toks) == V, f"{len(toks)} tokens for vocab_size {V}")
    table = bytes_to_unicode()
    for i in range(256):
        expect(toks[i] == table[i], f"token {i} is {toks[i]!r}, expected {table[i]!r}")
    expect(arr(kv["tokenizer.ggml.token_type"])[:256] == [1] * 256, "token types")
    expect(arr(kv["tokenizer.ggml.merges"]) == [], "merges")
    expect(kv.get("tokenizer.ggml.add_bos_token") is False, "add_bos_token must be false")
    # tensors
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight":
             "output_norm.weight", "lm_head.weight": "output.weight"}
    parts = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for l in range(L):
        for hf, gg in parts.items():
            names[f"model.layers.{l}.{hf}.weight"] = f"blk.{l}.{gg}.weight"
    seen = set()
    for hf, a in w.items():
        gg = names.get(hf)
        expect(gg is not None, f"checkpoint tensor {hf} has no GGUF name")
        expect(gg in tensors, f"GGUF lacks {gg} (from {hf})")
        seen.add(gg)
        tname, ne, data = tensors[gg]
        want_type = "F32" if a.ndim == 1 else dtype
        expect(tname == want_type, f"{gg}: type {tname}, expected {want_type}")
        expect(ne == list(a.shape[::-1]), f"{gg}: ne {ne}, expected {list(a.shape[::-1])}")
        m = data.reshape(a.shape)
        if gg.endswith("attn_q.weight") or gg.endswith("attn_k.weight"):
            m = unpermute(m, NH if gg.endswith("attn_q.weight") else KVH)
        want = stored(a.astype(np.float32), want_type)
        if want_type == "F32":
            ok = np.array_equal(m.view(np.uint32), want.view(np.uint32))
        else:
            ok = np.array_equal(m, want)
        expect(ok, f"{gg}: values differ from {hf}")
    extra = set(tensors) - seen
    expect(not extra, f"GGUF tensors not in the checkpoint: {sorted(extra)}")
    return arch


def weights(tensors):
    w = {}
    for name, (t, ne, data) in tensors.items():
        if t == "F32":
            a = data.astype(np.float64)
        elif t == "F16":
            a = data.view("<f2").astype(np.float64)
        else:
            a = (data.astype(np.uint32) << 16).view("<f4").astype(np.float64)
        w[name] = a.reshape(list(reversed(ne)))
    return w


def rms(x, g, eps):
    return g * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def llama_cpp_forward(kv, w, tokens):
    arch = kv["general.architecture"]
    L = kv[f"{arch}.block_count"]

    def per_layer(key):
        v = kv[f"{arch}.{key}"]
        return arr(v) if isinstance(v, tuple) else [v] * L

    heads, kvh = per_layer("attention.head_count"), per_layer("attention.head_count_kv")
    HD = kv[f"{arch}.attention.key_length"]
    eps = kv[f"{arch}.attention.layer_norm_rms_epsilon"]
    base = kv[f"{arch}.rope.freq_base"]
    B, T = tokens.shape
    theta = base ** (-np.arange(0, HD, 2, dtype=np.float64) / HD)
    ang = np.outer(np.arange(T), theta)  # (T, HD/2)
    cos, sin = np.cos(ang), np.sin(ang)
    mask = np.triu(np.full((T, T), -np.inf), k=1)

    def rope(x):  # (B, H, T, HD), NORM mode: pairs (2i, 2i+1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * cos - x1 * sin
        out[..., 1::2] = x0 * sin + x1 * cos
        return out

    x = w["token_embd.weight"][tokens]
    for l in range(L):
        p = f"blk.{l}."
        NH, KVH = heads[l], kvh[l]
        if NH > 0:
            h = rms(x, w[p + "attn_norm.weight"], eps)
            q = (h @ w[p + "attn_q.weight"].T).reshape(B, T, NH, HD).transpose(0, 2, 1, 3)
            k = (h @ w[p + "attn_k.weight"].T).reshape(B, T, KVH, HD).transpose(0, 2, 1, 3)
            v = (h @ w[p + "attn_v.weight"].T).reshape(B, T, KVH, HD).transpose(0, 2, 1, 3)
            q, k = rope(q), rope(k)
            k = np.repeat(k, NH // KVH, axis=1)
            v = np.repeat(v, NH // KVH, axis=1)
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(HD) + mask
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            x = x + (s @ v).transpose(0, 2, 1, 3).reshape(B, T, NH * HD) @ w[p + "attn_output.weight"].T
        h = rms(x, w[p + "ffn_norm.weight"], eps)
        g, u = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "ffn_down.weight"].T
    x = rms(x, w["output_norm.weight"], eps)
    return x @ w.get("output.weight", w["token_embd.weight"]).T


def eval_loss(kv, tensors, data, T, batches, batch):
    w = weights(tensors)
    tok = np.fromfile(data, dtype="<u2").astype(np.int64)
    windows = (len(tok) - 1) // T
    if batches > 0:
        windows = min(windows, batches * batch)
    total, count = 0.0, 0
    for w0 in range(0, windows, batch):
        idx = range(w0, min(windows, w0 + batch))
        xs = np.stack([tok[i * T : i * T + T] for i in idx])
        ys = np.stack([tok[i * T + 1 : i * T + T + 1] for i in idx])
        logits = llama_cpp_forward(kv, w, xs)
        m = logits.max(axis=-1, keepdims=True)
        lse = (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))[..., 0]
        total += float((lse - np.take_along_axis(logits, ys[..., None], axis=-1)[..., 0]).sum())
        count += ys.size
    return total / count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("--check", metavar="CHECKPOINT")
    ap.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    ap.add_argument("--dump", action="store_true")
    ap.add_argument("--data")
    ap.add_argument("--seq", type=int)
    ap.add_argument("--batches", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()
    kv, types, tensors = parse(a.gguf)
    if a.data is not None:
        print(json.dumps({"loss": eval_loss(kv, tensors, a.data, a.seq, a.batches, a.batch)}))
        return
    if a.dump:
        for key, v in kv.items():
            s = repr(v)
            print(f"{key} (type {types[key]}): {s[:100]}")
        for name, (t, ne, _) in tensors.items():
            print(f"tensor {name} {t} {ne}")
    arch = check(kv, types, tensors, a.check, a.dtype) if a.check else kv.get("general.architecture")
    print(json.dumps({"ok": True, "keys": len(kv), "tensors": len(tensors), "arch": arch}))


if __name__ == "__main__":
    main()
