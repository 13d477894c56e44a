#!/usr/bin/python3
"""The PyTorch reference for fine-tuning: the loop a user would write from the transformers tutorials.

BERT for sequence classification (native/testdata/ref_bert.py, HF module names, dropout 0.1 active in training),
torch.optim.AdamW with decay/no-decay groups, linear schedule (get_scheduler("linear") as a LambdaLR), gradient
clipping at 1.0, a shuffled DataLoader over pre-tokenized rows padded to max_length (tokenizer(padding="max_length")),
or, with --padding longest, each batch cut to its longest row (DataCollatorWithPadding). With --lora-r R it trains a
peft-style LoRA adapter instead (native/testdata/ref_lora.py: frozen base, AdamW over lora_A/lora_B and the classifier).

Inputs come pre-tokenized (bench/harness.py writes an .npz: input_ids [N, max_len] int64 padded with 0,
attention_mask, labels), so tokenization is outside this process (conservative: it favours the reference).

Progress goes to stderr in whet's `--progress json` shapes ({"type":"step",...}, {"type":"done",...}); the last
stdout line is the summary {"train_samples_per_second": ..., "train_runtime": ..., "steps": ...}.

On a GPU (--device cuda, scripts/gpu-check.sh): batches are copied with pin_memory/non_blocking, and --precision bf16
or fp16 runs the forward pass under torch.autocast (fp16 with torch.amp.GradScaler), the recipe PyTorch documents;
the summary then adds the peak GPU memory PyTorch allocated.
"""
import argparse
import contextlib
import json
import os
import sys
import time

T_START = time.monotonic()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "native", "testdata"))
import ref_bert  # noqa: E402
import ref_lora  # noqa: E402


def emit(obj):
    sys.stderr.write(json.dumps(obj) + "\n")
    sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help=".npz with input_ids, attention_mask, labels")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-steps", type=int, default=0, help="0: one epoch")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup-ratio", type=float, default=0.0)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--padding", choices=["max_length", "longest"], default="max_length")
    ap.add_argument("--no-dropout", action="store_true")
    ap.add_argument("--lora-r", type=int, default=0, help="train a LoRA adapter of this rank (ref_lora.py, peft's math)")
    ap.add_argument("--lora-alpha", type=float, default=8)
    ap.add_argument("--lora-targets", default="query,value")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    d = np.load(a.data)
    ids = torch.from_numpy(d["input_ids"].astype(np.int64))
    mask = torch.from_numpy(d["attention_mask"].astype(np.int64))
    types = torch.zeros_like(ids)
    labels = torch.from_numpy(d["labels"].astype(np.int64))

    model = ref_bert.load(a.model, ref_bert.Variant({"dropout": not a.no_dropout, "gelu": "native"}))
    if a.lora_r > 0:
        # peft's LoRA: frozen base, lora_A/lora_B on the targets, the classifier trained in full.
        ref_lora.attach(model, {"r": a.lora_r, "lora_alpha": a.lora_alpha, "target_modules": a.lora_targets.split(","),
                                "modules_to_save": ["classifier"]}, model.classifier.out_features)
    model.to(dev)
    model.train()

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if n.endswith(".bias") or "LayerNorm" in n else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=a.learning_rate,
    )
    g = torch.Generator()
    g.manual_seed(a.seed)
    loader = DataLoader(
        TensorDataset(ids, types, mask, labels), batch_size=a.batch_size, shuffle=True, generator=g, pin_memory=cuda
    )
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
    scaler = torch.amp.GradScaler(dev.type) if a.precision == "fp16" else None

    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(dev.type, dtype=amp_dtype)

    total = len(loader) * a.epochs
    if a.max_steps > 0:
        total = min(total, a.max_steps)
    warm = int(total * a.warmup_ratio)

    def lr_lambda(step):  # transformers.get_linear_schedule_with_warmup
        if step < warm:
            return float(step) / float(max(1, warm))
        return max(0.0, float(total - step) / float(max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    emit({"type": "log", "level": "info", "message": "loaded in %.3fs" % (time.monotonic() - T_START)})

    # Like whet's train_samples_per_second: rows / time spent in steps (batch to tensors, forward, backward,
    # clipping, optimizer), the data loader's own time left out.
    step, samples, train_time = 0, 0, 0.0
    done = False
    for epoch in range(a.epochs):
        for bi, bt, bm, bl in loader:
            s0 = time.monotonic()
            if a.padding == "longest":
                n = int(bm.sum(1).max())
                bi, bt, bm = bi[:, :n], bt[:, :n], bm[:, :n]
            bi, bt, bm, bl = (t.to(dev, non_blocking=True) for t in (bi, bt, bm, bl))
            with autocast():
                logits, _ = model(bi, bt, bm)
                loss = torch.nn.functional.cross_entropy(logits.float(), bl)
            if scaler is None:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(decay + no_decay, a.max_grad_norm)
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(decay + no_decay, a.max_grad_norm)
                scaler.step(opt)
                scaler.update()
            sched.step()
            opt.zero_grad()
            lv = loss.item()
            step += 1
            samples += bl.shape[0]
            train_time += time.monotonic() - s0
            emit(
                {
                    "type": "step",
                    "step": step,
                    "total_steps": total,
                    "epoch": epoch + step / max(1, len(loader)),
                    "loss": lv,
                    "learning_rate": sched.get_last_lr()[0],
                    "samples_per_second": samples / train_time,
                }
            )
            if step >= total:
                done = True
                break
        if done:
            break
    sps = samples / train_time
    emit({"type": "done", "metrics": {}, "train_samples_per_second": sps})
    summary = {"train_samples_per_second": sps, "train_runtime_seconds": train_time, "steps": step, "samples": samples}
    if cuda:
        summary["peak_gpu_memory_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
