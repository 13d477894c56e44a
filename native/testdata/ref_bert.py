#!/usr/bin/python3
"""A plain PyTorch BERT, the numerical reference for whet's native model.

Written from the HuggingFace BertModel definition with the same module names, so its state_dict keys are HF's.
No transformers/safetensors packages: safetensors is read and written by hand.

Usage (one JSON request on stdin, one JSON answer on stdout):

    ref_bert.py forward   {"model": DIR, "input_ids": [[..]], "token_type_ids": [[..]], "attention_mask": [[..]],
                           "threads": 1, "variant": {"mask": "scores|none|keys", "gelu": "erf|tanh", "eps": null}}
                          -> {"logits": [[..]] | null, "mlm_logits": [[[..]]] | null, "rows": [{"logits", "mlm_logits"}]}
        "rows" holds each row run alone, unpadded (a check on the mask that needs no mask at all).
    ref_bert.py save      {"out": DIR, "config": {...}, "seed": 1, "format": "safetensors|bin", "legacy": false,
                           "heads": ["classifier", "mlm"]}
        writes a HF folder with weights drawn by torch (normal(0, initializer_range)), legacy gamma/beta names when
        asked, as model.safetensors (by hand) or pytorch_model.bin (torch.save of the state_dict).
    ref_bert.py train     {"model": DIR, "input_ids": .., "token_type_ids": .., "attention_mask": .., "labels": [..],
                           "steps": 3, "lr": 1e-3, "weight_decay": 0.01, "threads": 1}
        -> {"losses": [..]}: plain AdamW steps (two groups: no decay on biases and LayerNorm), clipping at 1.0 and a
        linear decay of the learning rate to 0, without dropout, to compare training arithmetic.

Dropout (opt-in, used by bench/ref_train.py): Variant({"dropout": true}) adds HF's dropout layers (embeddings output,
attention probabilities, both dense outputs before their residual, pooled output before the classifier) at the config's
hidden_dropout_prob / attention_probs_dropout_prob (0.1 when absent; classifier_dropout when set); a number instead of
true sets every rate. Off by default: the layers are then nn.Identity, so outputs and state_dict keys are unchanged.
Dropout acts only in train() mode, as in HF.
Variant({"gelu": "native"}) (opt-in, for benchmarks) computes gelu with torch's fused kernel, F.gelu (approximate="tanh"
for gelu_new), as HF's ACT2FN does, instead of the default written-out erf/tanh formulas (same values to float32
rounding, fewer temporaries).
"""
import json
import math
import os
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = OrderedDict()
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            raw = np.frombuffer(body[b:end], dtype=np.uint16).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(body[b:end], dtype=DTYPES[e["dtype"]])
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(e["shape"]).copy())
    return out


def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    blobs = []
    for name, t in tensors.items():
        a = t.detach().cpu().contiguous().numpy().astype("<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class Variant:
    def __init__(self, d):
        d = d or {}
        self.mask = d.get("mask", "scores")
        self.gelu = d.get("gelu", "erf")
        self.eps = d.get("eps")
        self.dropout = d.get("dropout")  # None/False: no dropout layers (default); True: config rates; float: that rate

    def rate(self, c, key):
        """The dropout rate for config key (hidden_dropout_prob, attention_probs_dropout_prob) under this variant."""
        if self.dropout is None or self.dropout is False:
            return 0.0
        if self.dropout is True:
            r = c.get(key)
            return 0.1 if r is None else float(r)
        return float(self.dropout)


def dropout(c, v, key):
    """nn.Dropout at the variant's rate, or nn.Identity (no state, no change) when the rate is 0."""
    p = v.rate(c, key)
    return nn.Dropout(p) if p > 0 else nn.Identity()


def act(x, name, variant):
    if name == "relu":
        return torch.relu(x)
    if variant.gelu == "native":
        if name in ("gelu_new", "gelu_pytorch_tanh"):
            return nn.functional.gelu(x, approximate="tanh")
        return nn.functional.gelu(x)
    if name in ("gelu_new", "gelu_pytorch_tanh") or variant.gelu == "tanh":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class Embeddings(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=c.get("pad_token_id", 0))
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=v.eps or c["layer_norm_eps"])
        self.dropout = dropout(c, v, "hidden_dropout_prob")

    def forward(self, ids, types):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        return self.dropout(
            self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(types))
        )


class SelfAttention(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        h = c["hidden_size"]
        self.nh = c["num_attention_heads"]
        self.d = h // self.nh
        self.v = v
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.dropout = dropout(c, v, "attention_probs_dropout_prob")

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.nh, self.d).permute(0, 2, 1, 3)

    def forward(self, x, ext):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        if self.v.mask == "keys":
            # The sugarme/transformer bug: the mask added to the keys instead of the scores.
            k = k + ext
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d)
        if self.v.mask == "scores":
            s = s + ext
        p = self.dropout(torch.softmax(s, dim=-1))
        o = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
        return o.view(x.shape)


class DenseLN(nn.Module):
    def __init__(self, c, v, din):
        super().__init__()
        self.dense = nn.Linear(din, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=v.eps or c["layer_norm_eps"])
        self.dropout = dropout(c, v, "hidden_dropout_prob")

    def forward(self, x, res):
        return self.LayerNorm(self.dropout(self.dense(x)) + res)


class Attention(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        self.self = SelfAttention(c, v)
        self.output = DenseLN(c, v, c["hidden_size"])

    def forward(self, x, ext):
        return self.output(self.self(x, ext), x)


class Intermediate(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.c, self.v = c, v

    def forward(self, x):
        return act(self.dense(x), self.c.get("hidden_act", "gelu"), self.v)


class Layer(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        self.attention = Attention(c, v)
        self.intermediate = Intermediate(c, v)
        self.output = DenseLN(c, v, c["intermediate_size"])

    def forward(self, x, ext):
        a = self.attention(x, ext)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c, v) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, ext):
        for l in self.layer:
            x = l(x, ext)
        return x


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class Bert(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        self.embeddings = Embeddings(c, v)
        self.encoder = Encoder(c, v)
        self.pooler = Pooler(c)
        self.v = v

    def forward(self, ids, types, mask):
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        if self.v.mask == "keys":
            ext = (1.0 - mask[:, None, :, None].float()) * -10000.0
        return self.encoder(self.embeddings(ids, types), ext)


class Transform(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=v.eps or c["layer_norm_eps"])
        self.c, self.v = c, v

    def forward(self, x):
        return self.LayerNorm(act(self.dense(x), self.c.get("hidden_act", "gelu"), self.v))


class Predictions(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        self.transform = Transform(c, v)
        self.bias = nn.Parameter(torch.zeros(c["vocab_size"]))


class Cls(nn.Module):
    def __init__(self, c, v):
        super().__init__()
        self.predictions = Predictions(c, v)


class Model(nn.Module):
    def __init__(self, c, v, heads):
        super().__init__()
        self.bert = Bert(c, v)
        if "classifier" in heads:
            self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))
            cd = c.get("classifier_dropout")
            self.dropout = dropout(dict(c, hidden_dropout_prob=cd) if cd is not None else c, v, "hidden_dropout_prob")
        if "mlm" in heads:
            self.cls = Cls(c, v)

    def forward(self, ids, types, mask):
        seq = self.bert(ids, types, mask)
        logits = mlm = None
        if hasattr(self, "classifier"):
            logits = self.classifier(self.dropout(self.bert.pooler(seq)))
        if hasattr(self, "cls"):
            h = self.cls.predictions.transform(seq)
            mlm = h @ self.bert.embeddings.word_embeddings.weight.t() + self.cls.predictions.bias
        return logits, mlm


def canonical(name):
    if "LayerNorm" in name:
        if name.endswith(".gamma"):
            name = name[: -len(".gamma")] + ".weight"
        elif name.endswith(".beta"):
            name = name[: -len(".beta")] + ".bias"
    return name


def load(model_dir, variant=None):
    variant = variant or Variant(None)
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    st = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(st):
        sd = read_safetensors(st)
    else:
        sd = torch.load(os.path.join(model_dir, "pytorch_model.bin"), map_location="cpu")
    sd = OrderedDict((canonical(k), v.float()) for k, v in sd.items())
    sd.pop("bert.embeddings.position_ids", None)
    sd.pop("cls.predictions.decoder.weight", None)
    if "cls.predictions.bias" not in sd and "cls.predictions.decoder.bias" in sd:
        sd["cls.predictions.bias"] = sd["cls.predictions.decoder.bias"]
    sd.pop("cls.predictions.decoder.bias", None)
    heads = []
    if "classifier.weight" in sd:
        heads.append("classifier")
    if "cls.predictions.bias" in sd:
        heads.append("mlm")
    m = Model(c, variant, heads)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise SystemExit("ref_bert: missing %s unexpected %s" % (missing, unexpected))
    m.eval()
    return m


def tolist(t):
    return None if t is None else t.tolist()


def cmd_forward(req):
    torch.set_num_threads(req.get("threads", 1))
    v = Variant(req.get("variant"))
    m = load(req["model"], v)
    ids = torch.tensor(req["input_ids"], dtype=torch.long)
    types = torch.tensor(req.get("token_type_ids") or [[0] * ids.shape[1]] * ids.shape[0], dtype=torch.long)
    mask = torch.tensor(req["attention_mask"], dtype=torch.long)
    out = {}
    with torch.no_grad():
        logits, mlm = m(ids, types, mask)
        out["logits"], out["mlm_logits"] = tolist(logits), tolist(mlm)
        rows = []
        for i in range(ids.shape[0]):
            n = int(mask[i].sum())
            l, ml = m(ids[i : i + 1, :n], types[i : i + 1, :n], mask[i : i + 1, :n])
            rows.append({"logits": tolist(l[0]) if l is not None else None, "mlm_logits": tolist(ml[0]) if ml is not None else None})
        out["rows"] = rows
    json.dump(out, sys.stdout)


def cmd_save(req):
    torch.manual_seed(req.get("seed", 0))
    c = dict(req["config"])
    heads = req.get("heads", ["classifier"])
    m = Model(c, Variant(None), heads)
    r = c.get("initializer_range", 0.02)
    for mod in m.modules():
        if isinstance(mod, (nn.Linear, nn.Embedding)):
            mod.weight.data.normal_(0.0, r)
        if isinstance(mod, nn.Linear):
            mod.bias.data.normal_(0.0, r)  # non-zero biases so a swapped bias shows
        if isinstance(mod, nn.LayerNorm):
            mod.weight.data.normal_(1.0, 0.1)
            mod.bias.data.normal_(0.0, 0.1)
    if hasattr(m, "cls"):
        m.cls.predictions.bias.data.normal_(0.0, r)
    sd = OrderedDict()
    for k, t in m.state_dict().items():
        if req.get("legacy") and "LayerNorm" in k:
            k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        sd[k] = t
    if hasattr(m, "cls"):
        # What HF's BertForMaskedLM state_dict holds besides: the tied decoder.
        sd["cls.predictions.decoder.weight"] = m.bert.embeddings.word_embeddings.weight
        sd["cls.predictions.decoder.bias"] = m.cls.predictions.bias
    out = req["out"]
    os.makedirs(out, exist_ok=True)
    c["architectures"] = ["BertForMaskedLM"] if heads == ["mlm"] else ["BertForSequenceClassification"]
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    if req.get("format", "safetensors") == "bin":
        torch.save(sd, os.path.join(out, "pytorch_model.bin"))
    else:
        sd = OrderedDict((k, v) for k, v in sd.items() if k != "cls.predictions.decoder.weight")
        write_safetensors(os.path.join(out, "model.safetensors"), sd)
    json.dump({"ok": True}, sys.stdout)


def cmd_train(req):
    torch.set_num_threads(req.get("threads", 1))
    m = load(req["model"], Variant(None))
    m.train(False)  # the reference has no dropout layers; eval() only for clarity
    ids = torch.tensor(req["input_ids"], dtype=torch.long)
    types = torch.tensor(req["token_type_ids"], dtype=torch.long)
    mask = torch.tensor(req["attention_mask"], dtype=torch.long)
    labels = torch.tensor(req["labels"], dtype=torch.long)
    decay, no_decay = [], []
    for n, p in m.named_parameters():
        (no_decay if n.endswith(".bias") or "LayerNorm" in n else decay).append(p)
    json.dump({"losses": adamw_steps(m, decay, no_decay, (ids, types, mask), labels, req)}, sys.stdout)


def adamw_steps(m, decay, no_decay, inputs, labels, req):
    """req["steps"] AdamW steps on the full batch (two decay groups, clipping, linear decay to 0); the losses."""
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": req.get("weight_decay", 0.01)}, {"params": no_decay, "weight_decay": 0.0}],
        lr=req.get("lr", 1e-3),
    )
    steps = req.get("steps", 3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (steps - s) / steps))
    losses = []
    for _ in range(steps):
        logits, _ = m(*inputs)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decay + no_decay, req.get("max_grad_norm", 1.0))
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


if __name__ == "__main__":
    req = json.load(sys.stdin)
    {"forward": cmd_forward, "save": cmd_save, "train": cmd_train}[sys.argv[1]](req)
