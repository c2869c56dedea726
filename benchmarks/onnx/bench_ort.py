import json
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

texts = json.load(open("/tmp/onnx/texts.json"))
tok = Tokenizer.from_file("/tmp/onnx/tok/tokenizer.json")
tok.enable_truncation(256)
model = sys.argv[1]
threads = int(sys.argv[2])
batch = int(sys.argv[3])
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
opts.inter_op_num_threads = 1
opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
order = sorted(range(len(texts)), key=lambda i: len(texts[i]))


def embed(idx):
    encs = tok.encode_batch([texts[i] for i in idx])
    n = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), n), np.int64)
    mask = np.zeros_like(ids)
    for r, e in enumerate(encs):
        ids[r, : len(e.ids)] = e.ids
        mask[r, : len(e.ids)] = 1
    out = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
    v = (out * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


embed(order[:batch])  # warm-up
t0 = time.perf_counter()
vecs = np.zeros((len(texts), 384), np.float32)
for s in range(0, len(order), batch):
    idx = order[s : s + batch]
    vecs[idx] = embed(idx)
dt = time.perf_counter() - t0
np.save(sys.argv[4], vecs)
print(
    json.dumps(
        {"model": model.split("/")[-1], "threads": threads, "batch": batch, "chunks_per_s": round(len(texts) / dt, 1)}
    )
)
