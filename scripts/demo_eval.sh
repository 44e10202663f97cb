#!/usr/bin/env bash
# `make demo`, after pretraining: evaluate on the quickstart test split (R@1/5/10, mAP, mINP next to
# the chance level, and which attributes each ordering's top 5 share with the query), then search a
# folder of the quickstart's images with a sentence and measure four attribute queries' precision
# against the gallery's base rate (scripts/search_check.py).
#   bash scripts/demo_eval.sh [CHECKPOINT] [SHARDS]
# CHECKPOINT defaults to the newest training run under runs/ that holds best/ or model/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
SHARDS=${2:-shards/quickstart}
CKPT=${1:-}
if [ -z "$CKPT" ]; then
  CKPT=$(ls -dt runs/*/best runs/*/model 2>/dev/null | while read -r d; do
           [ -f "$d/config.json" ] && { echo "$d"; break; }; done || true)
fi
if [ -z "$CKPT" ]; then
  echo "demo_eval: no trained checkpoint under runs/ (train one first, e.g. aptm-train pretrain)" >&2
  exit 1
fi
# a training run folder (holding model/ or best/) keeps its eval beside them; a model folder's goes next to it
if [ -d "$CKPT/model" ] || [ -d "$CKPT/best" ]; then OUT="${CKPT%/}/eval"; else OUT=$(dirname "$CKPT")/eval; fi
echo "== eval: $CKPT on $SHARDS (test split) =="
# ITC ranks the whole test gallery; ITM re-ranks each query's ITC top 32 (a fifth of the quickstart's
# 155-image gallery; the paper's k=128 is for galleries of thousands). fused = ITM_norm + w ITC_norm:
# the official w = 0.002 is ITM's order, which suits a trained ITM head; the demo's ITM head, 600 CPU
# steps old, ranks a little worse than ITC (test R@1 ITM alone / ITC: 21.3-22.6 / 24.5-25.8 in three
# fresh runs at the 3:1 person crop), so the demo weighs ITC 16x and ITM reorders ITC's near-ties.
# w was chosen on the validation split (~160 queries a model):
# - thirteen models before the 3:1 crop (900-1,200 steps): R@1 summed 181.5 at w = 16, 175.4 at 1,
#   174.9 for ITC alone;
# - three models at the 3:1 crop (the demo recipe, with optim.cross_lr_scale=3, with ITM from step
#   300): 59.3 at w = 16, 58.7 for ITC alone, 58.1 at 8 and 32, 56.3 at 2, 55.1 at 4.
# The same three models' test split put w = 4 first (+1.3, +1.9, +1.9 against ITC; w = 16: -0.6,
# +0.6, 0.0): with ~160 queries a split's own sample outweighs the difference being measured.
FUSE_W=16
$BIN/aptm-train eval --checkpoint "$CKPT" --shards "$SHARDS" --split test --mode itc,itm,fused --k 32 --itc-weight $FUSE_W \
  -o "$OUT" --rankings --html --no-progress
# search works on any folder of images: unpack the quickstart's images (KEY.jpg) into one
GALLERY="$OUT/gallery"
rm -rf "$GALLERY" && mkdir -p "$GALLERY"
for tar in "$SHARDS"/*.tar; do tar -xf "$tar" -C "$GALLERY" --wildcards '*.jpg'; done
echo "== search: \"a man in a red shirt\" over the folder $GALLERY ($(ls "$GALLERY" | wc -l) images) =="
# ITC picks 32 candidates from the folder's index, ITM re-ranks them, fused with ITC as in the eval
$BIN/aptm-train search --checkpoint "$CKPT" --gallery "$GALLERY" --top 10 --rerank 32 --itc-weight $FUSE_W --no-progress \
  --png "$OUT/search_red_shirt.png" --html "$OUT/search_red_shirt.html" "a man in a red shirt"
echo "== does search find what it is asked for? share of the top 10 / 50 carrying the asked attributes =="
$BIN/python scripts/search_check.py "$CKPT" "$SHARDS" --gallery "$GALLERY" --top 10 50 --rerank 32 --itc-weight $FUSE_W
