#!/usr/bin/env bash
# `make demo` (after the quickstart shards exist): pretrain aptm-mini on CPU for a few minutes and
# print the loss curve's start and end. Override the length with DEMO_TRAIN_STEPS.
# The demo feeds aptm-mini 192x64 images (a quarter of 384x128's pixels) so a step takes ~2.5 s
# on two cores; lr is the paper's 1e-4 (a randomly initialised Swin collapses at 3e-4).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
SHARDS=${DEMO_SHARDS:-shards/quickstart}
RUN=${DEMO_TRAIN_RUN:-runs/quickstart-pretrain}
STEPS=${DEMO_TRAIN_STEPS:-60}
rm -rf "$RUN"
$BIN/aptm-train pretrain --shards "$SHARDS" --config aptm-mini --out "$RUN" --max-steps "$STEPS" \
  --batch-size 16 --workers 1 --lr 1e-4 --log-every 10 --save-every "$STEPS" --eval-every "$STEPS" \
  --set schedule.warmup_steps=10 --set 'model_overrides.vision.img_size=[192,64]'
$BIN/python - "$RUN" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(f"{sys.argv[1]}/log.jsonl") if '"loss"' in l]
first, last = rows[0], rows[-1]
print(f"loss: step {first['step']} {first['loss']:.3f} -> step {last['step']} {last['loss']:.3f} "
      f"(itc {first['itc_loss']:.3f} -> {last['itc_loss']:.3f}); model in {sys.argv[1]}/model")
PY
