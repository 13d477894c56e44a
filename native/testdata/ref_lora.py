#!/usr/bin/python3
"""A plain PyTorch LoRA on top of ref_bert.py's BERT, written from peft's definitions (tuners/lora/layer.py): the
numerical and layout reference for whet's LoRA adapters. No peft/transformers/safetensors packages.

Each target nn.Linear W becomes LoraLinear: base_layer W, lora_A = Linear(in, r, bias=False) initialized
kaiming_uniform_(a=sqrt(5)), lora_B = Linear(r, out, bias=False) zeros, scaling = lora_alpha / r (/ sqrt(r) with
use_rslora), forward W(x) + lora_B(lora_A(dropout(x))) * scaling. A target is a module whose name equals an entry of
target_modules or ends with "." + entry (peft's check_target_module_exists); a string target_modules is re.fullmatch.
modules_to_save (always the classifier for SEQ_CLS) are trained in full. An adapter file holds, under the prefix
"base_model.model.", NAME.lora_A.weight [r, in], NAME.lora_B.weight [out, r] and the saved modules' tensors
(classifier.weight, classifier.bias), as peft's get_peft_model_state_dict names them. A target nn.Embedding becomes
LoraEmbedding (peft's lora.Embedding), saved as NAME.lora_embedding_A [r, num] and NAME.lora_embedding_B [dim, r].

Usage (one JSON request on stdin, one JSON answer on stdout):

    ref_lora.py forward {"model": BASE, "adapter": DIR, "input_ids", "token_type_ids", "attention_mask", "threads": 1}
        -> {"logits": [[..]]}
    ref_lora.py save    {"model": BASE, "out": DIR, "r": 4, "lora_alpha": 8, "target_modules": [..] | "regex",
                         "modules_to_save": ["classifier"], "num_labels": 3, "seed": 1, "use_rslora": false}
        writes an adapter folder as peft's save_pretrained does (its adapter_config.json keys, modules_to_save with
        "score" added as PeftModelForSequenceClassification does, no whet file), with lora_B drawn non-zero so that
        the update shows.
    ref_lora.py train   {"model": BASE, "adapter": DIR, "input_ids", "token_type_ids", "attention_mask", "labels",
                         "steps": 3, "lr": 1e-3, "weight_decay": 0.01, "max_grad_norm": 1.0, "threads": 1}
        -> {"losses": [..]}: from the adapter's values, AdamW on the adapter's parameters only (no decay on biases),
        clipping, linear decay to 0, without dropout.
"""
import json
import math
import os
import re
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_bert  # noqa: E402

PREFIX = "base_model.model."


class LoraLinear(nn.Module):
    def __init__(self, base, r, alpha, dropout, rslora):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / (math.sqrt(r) if rslora else r)
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        return self.base_layer(x) + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling


class LoraEmbedding(nn.Module):
    """peft's lora.Embedding: lora_embedding_A [r, num] zeros, lora_embedding_B [dim, r] standard normal, no dropout;
    forward E(x) + embedding(x, A^T) @ B^T * scaling (with E's padding_idx)."""

    def __init__(self, base, r, alpha, rslora):
        super().__init__()
        self.base_layer = base
        self.lora_embedding_A = nn.Parameter(torch.zeros(r, base.num_embeddings))
        self.lora_embedding_B = nn.Parameter(torch.randn(base.embedding_dim, r))
        self.scaling = alpha / (math.sqrt(r) if rslora else r)

    def forward(self, x):
        after_a = nn.functional.embedding(x, self.lora_embedding_A.T, padding_idx=self.base_layer.padding_idx)
        return self.base_layer(x) + (after_a @ self.lora_embedding_B.T) * self.scaling


def is_target(name, targets):
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def attach(m, cfg, num_labels):
    """Wraps m's target Linear layers and gives it a classifier of num_labels; returns the adapter's parameters."""
    c = m.bert.embeddings.word_embeddings.weight.shape[1]
    if not hasattr(m, "classifier") or m.classifier.out_features != num_labels:
        m.classifier = nn.Linear(c, num_labels)
    if not hasattr(m, "dropout"):
        m.dropout = nn.Identity()
    names = [n for n, mod in m.named_modules() if isinstance(mod, (nn.Linear, nn.Embedding)) and n != "classifier" and is_target(n, cfg["target_modules"])]
    for n in names:
        parent, _, leaf = n.rpartition(".")
        p = m.get_submodule(parent)
        base = getattr(p, leaf)
        if isinstance(base, nn.Embedding):
            setattr(p, leaf, LoraEmbedding(base, cfg["r"], cfg["lora_alpha"], cfg.get("use_rslora", False)))
        else:
            setattr(p, leaf, LoraLinear(base, cfg["r"], cfg["lora_alpha"], cfg.get("lora_dropout", 0.0), cfg.get("use_rslora", False)))
    for p in m.parameters():
        p.requires_grad_(False)
    saved = []
    for n, p in m.named_parameters():
        lora = ".lora_A." in n or ".lora_B." in n or ".lora_embedding_" in n
        mts = any(n.startswith(s + ".") or ("." + s + ".") in n for s in cfg.get("modules_to_save") or [])
        if lora or mts or n.startswith("classifier."):
            p.requires_grad_(True)
            saved.append(n)
    return saved


def adapter_state(m, saved):
    sd = m.state_dict()
    return {PREFIX + n: sd[n] for n in saved}


def load_adapter(base, adapter):
    with open(os.path.join(adapter, "adapter_config.json")) as f:
        cfg = json.load(f)
    sd = ref_bert.read_safetensors(os.path.join(adapter, "adapter_model.safetensors"))
    num_labels = sd[PREFIX + "classifier.weight"].shape[0]
    m = ref_bert.load(base)
    saved = attach(m, cfg, num_labels)
    own = m.state_dict()
    for k, v in sd.items():
        n = k[len(PREFIX):]
        if n not in own:
            raise SystemExit("ref_lora: tensor %s is not a parameter of the LoRA model" % k)
        if own[n].shape != v.shape:
            raise SystemExit("ref_lora: tensor %s has shape %s, want %s" % (k, list(v.shape), list(own[n].shape)))
        own[n].copy_(v)
    missing = [n for n in saved if PREFIX + n not in sd]
    if missing:
        raise SystemExit("ref_lora: adapter lacks %s" % missing)
    m.eval()
    return m, saved


def tensors(req):
    ids = torch.tensor(req["input_ids"], dtype=torch.long)
    types = torch.tensor(req.get("token_type_ids") or [[0] * ids.shape[1]] * ids.shape[0], dtype=torch.long)
    mask = torch.tensor(req["attention_mask"], dtype=torch.long)
    return ids, types, mask


def cmd_forward(req):
    torch.set_num_threads(req.get("threads", 1))
    m, _ = load_adapter(req["model"], req["adapter"])
    with torch.no_grad():
        logits, _ = m(*tensors(req))
    json.dump({"logits": logits.tolist()}, sys.stdout)


def cmd_save(req):
    torch.manual_seed(req.get("seed", 0))
    cfg = {
        "r": req.get("r", 8), "lora_alpha": req.get("lora_alpha", 8), "lora_dropout": req.get("lora_dropout", 0.0),
        "target_modules": req.get("target_modules", ["query", "value"]),
        "modules_to_save": list(req.get("modules_to_save") or ["classifier"]) + ["score"],
        "use_rslora": req.get("use_rslora", False),
    }
    m = ref_bert.load(req["model"])
    saved = attach(m, cfg, req["num_labels"])
    for n, p in m.named_parameters():
        if n in saved:
            p.data.normal_(0.0, 0.2)  # lora_B too, so the update is not zero
    out = req["out"]
    os.makedirs(out, exist_ok=True)
    targets = cfg["target_modules"]
    conf = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": req["model"], "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": cfg["lora_alpha"],
        "lora_dropout": cfg["lora_dropout"], "megatron_config": None, "megatron_core": "megatron.core",
        "modules_to_save": cfg["modules_to_save"], "peft_type": "LORA", "r": cfg["r"], "rank_pattern": {},
        "revision": None, "target_modules": targets if isinstance(targets, str) else sorted(set(targets)),
        "task_type": "SEQ_CLS", "use_dora": False, "use_rslora": cfg["use_rslora"],
    }
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(conf, f, indent=2, sort_keys=True)
    ref_bert.write_safetensors(os.path.join(out, "adapter_model.safetensors"), adapter_state(m, saved))
    json.dump({"saved": [PREFIX + n for n in saved]}, sys.stdout)


def cmd_train(req):
    torch.set_num_threads(req.get("threads", 1))
    m, saved = load_adapter(req["model"], req["adapter"])
    m.train(False)  # no dropout layers in the reference
    ids, types, mask = tensors(req)
    labels = torch.tensor(req["labels"], dtype=torch.long)
    named = dict(m.named_parameters())
    decay = [named[n] for n in saved if not n.endswith(".bias")]
    no_decay = [named[n] for n in saved if n.endswith(".bias")]
    json.dump({"losses": ref_bert.adamw_steps(m, decay, no_decay, (ids, types, mask), labels, req)}, sys.stdout)


if __name__ == "__main__":
    req = json.load(sys.stdin)
    {"forward": cmd_forward, "save": cmd_save, "train": cmd_train}[sys.argv[1]](req)
