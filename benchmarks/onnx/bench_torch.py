import json
import sys
import time

import numpy as np

sys.path.insert(0, "/work/main")
from qa.embeddings import SentenceEmbeddings

texts = json.load(open("/tmp/onnx/texts.json"))
dtype = sys.argv[1]
emb = SentenceEmbeddings("sentence-transformers/all-MiniLM-L6-v2", dtype=dtype)
emb.embed_array(texts[:32])
t0 = time.perf_counter()
vecs = emb.embed_array(texts)
dt = time.perf_counter() - t0
np.save(sys.argv[2], np.asarray(vecs, np.float32))
print(json.dumps({"torch": dtype, "chunks_per_s": round(len(texts) / dt, 1)}))
