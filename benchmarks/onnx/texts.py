"""1,024 real passages (~200 tokens) from the rtqa small corpus, saved as JSON for both runtimes."""

import json
import sys
from pathlib import Path

sys.path.insert(0, "/work/main")
from qa.ingestion.chunking import Chunker

chunker = Chunker(200, 40)
texts = []
for path in sorted(Path("/work/main/benchmarks/work/rtqa-small").glob("*.txt")):
    texts += [c.text for c in chunker.split(path.read_text(encoding="utf-8"))]
    if len(texts) >= 1024:
        break
json.dump(texts[:1024], open("/tmp/onnx/texts.json", "w"))
print(len(texts[:1024]))
