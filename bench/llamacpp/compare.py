#!/usr/bin/env python3
"""Compare two latency sources on the same trials: ratio llama.cpp / host per candidate and
Spearman rank correlation, for prefill_ms and decode_ms (bench/llamacpp/run.sh)."""
import csv
import sys

import numpy as np


def ranks(v):
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(len(v))
    return r


rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "complete"]
print(f"{len(rows)} complete trials")
print("| id | layers | d_model | heads/kv | d_ffn | attention | host prefill | llama.cpp prefill "
      "| host decode | llama.cpp decode |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    att = "".join("A" if r.get(f"attn_{i}") == "True" else "-" for i in range(int(r["depth"])))
    print(f"| {r['id']} | {r['depth']} | {r['d_model']} | {r['heads']}/{r['kv_heads']} | "
          f"{r['d_ffn']} | {att} | {float(r['host.prefill_ms']):.2f} | "
          f"{float(r['llamacpp.prefill_ms']):.2f} | {float(r['host.decode_ms']):.3f} | "
          f"{float(r['llamacpp.decode_ms']):.3f} |")
for m in ("prefill_ms", "decode_ms"):
    h = np.array([float(r["host." + m]) for r in rows])
    l = np.array([float(r["llamacpp." + m]) for r in rows])
    rho = np.corrcoef(ranks(h), ranks(l))[0, 1]
    q = l / h
    print(f"{m}: llama.cpp / host ratio median {np.median(q):.2f} (min {q.min():.2f}, max "
          f"{q.max():.2f}); Spearman rank correlation {rho:.3f}")
