#!/usr/bin/env bash
# `make demo` (after the quickstart shards exist): pretrain aptm-mini on CPU (~10 min on two cores)
# and print the loss curve's start and end. Override the length with DEMO_TRAIN_STEPS.
# aptm-mini's Swin starts from random weights (no small Swin weights exist offline), so the demo
# departs from the paper's recipe, which starts from ImageNet weights, in measured ways:
# - 192x64 inputs (a quarter of 384x128's pixels);
# - bf16 autocast where the CPU has bf16 instructions (avx512_bf16 / amx_bf16);
# - no RandAugment / random erasing and no stochastic depth: for a few hundred steps from scratch
#   they only slow learning;
# - lr 2e-4 after a 50-step warm-up (at 3e-4 with a short warm-up the image features collapse);
# - no dropout in the text and fusion layers (model_overrides.text.dropout=0; BERT's is 0.1): on two
#   cores drawing the dropout masks took a third of the forward pass (py-spy: 17% of the whole step),
#   and a step ran at 23.5 samples/s against 18.8 with it (then 900 ITC+ITM steps took 10.5-11 min
#   on two cores, 700 with dropout 9.5-10). Like stochastic depth, it is
#   regularisation a run this short does not need;
# - ITC + ITM only, the two losses whose scores rank the test split and the search. Per CPU step
#   (scripts/profile_step.py, batch 16): ITC+ITM 0.62 s, + IAC 0.75 s, + MLM 1.28 s, + IAM and MAM
#   1.98 s. In our runs of 650-900 steps the IAC loss sat at its label prior (0.58-0.60) from step
#   ~100 on, and MLM, which is most of the step, did not make ITC or ITM learn sooner (with MLM ITM left
#   its 1:2 prior at step ~330, without it at ~280), so their minutes go to more ITC/ITM steps;
# - ITC alone for the first 500 steps (loss.itm_start=500): an ITC-only step costs 0.30 s against
#   0.70 s with ITM (scripts/profile_step.py: ITM runs the fusion over 3x the batch), and ITM cannot
#   learn before ITC's image features tell people apart, so the ITC phase buys the image encoder
#   ~2.3x the steps in its first minutes and ITM starts on features that already rank;
# - then ITC + ITM, ITM's negatives drawn uniformly until step 550 and from softmax(hardness x ITC
#   similarity) after, the hardness rising to APTM's 1 by step 850 (loss.itm_hardness_ramp). The
#   fusion encoder starts from random cross-attention: on hard negatives from its first step its
#   loss sat at the 1:2 prior (0.637) through 500 steps; uniform ones teach it to match, the ramp
#   ends on APTM's negatives (docs/differences-from-original.md). Test R@1, ITM alone / ITC:
#   ITM from step 0 (900 steps, the ramp [150, 600]): 5.8-12.9 / 14.2-16.1 in four fresh runs;
#   ITC first (1,100 steps): 12.3-12.9 / 19.4-20.7 in three fresh runs (make demo 11:25-11:46
#   against 12:19-13:14), and 16.1 / 16.1 and 16.1 / 16.8 in two earlier runs. ITC gains most;
#   ITM ranks at the top of its earlier range, and fusing the two moves R@1 within the splits'
#   noise (one query is 0.65 R@1): scripts/demo_eval.sh weighs ITC 16x, as the validation split
#   chose. All of that on shards cropped at 2:1, which the 192x64 input squeezed 1.5x sideways; at
#   the filter's 3:1 crop the same recipe gives 21.3-22.6 / 24.5-25.8 in three fresh runs (the README
#   has them). Variants at 3:1, one run each: optim.cross_lr_scale=3 22.6 / 21.9, ITM from step 300
#   21.3 / 23.2 (and 10:45 of training against 9:12): not taken;
# - 1,100 steps (~6 epochs), one validation at the end. More steps keep paying (on a GPU this
#   takes minutes); so did ITC's share of them, up to the point where ITM has too few to learn.
# The mals-pretrain recipe trains as the original code did (docs/differences-from-original.md);
# the demo sets our settings explicitly: batch 16, decay by module type, the
# global ITC gradient (the same on one process) and the temperature clamp.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
SHARDS=${DEMO_SHARDS:-shards/quickstart}
RUN=${DEMO_TRAIN_RUN:-runs/quickstart-pretrain}
STEPS=${DEMO_TRAIN_STEPS:-1100}
# ITM joins at 5/11 of the run and its negatives harden from 1/2 to 17/22 (500, [550, 850] of 1,100)
ITM_START=$((STEPS * 5 / 11)) RAMP_START=$((STEPS / 2)) RAMP_END=$((STEPS * 17 / 22))
# bf16 only where the CPU computes it natively; elsewhere emulated bf16 can be slower than fp32
if [ -z "${DEMO_PRECISION:-}" ]; then
  if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then DEMO_PRECISION=bf16; else DEMO_PRECISION=no; fi
fi
rm -rf "$RUN"
$BIN/aptm-train pretrain --shards "$SHARDS" --model-size aptm-mini -o "$RUN" --max-steps "$STEPS" \
  --batch-size 16 --workers 1 --lr 2e-4 --log-every 10 --save-every "$STEPS" --eval-every "$STEPS" \
  --precision "$DEMO_PRECISION" --set schedule.warmup_steps=50 --set 'model_overrides.vision.img_size=[192,64]' \
  --set model_overrides.vision.drop_path_rate=0.0 --set data.randaug_ops=0 --set data.random_erasing=0.0 \
  --set optim.no_decay=modules --set loss.itc_gradient=global --set loss.temp_clamp=true \
  --set loss.weights.mlm=0 --set loss.weights.iac=0 --set loss.weights.iam=0 --set loss.weights.mam=0 \
  --set model_overrides.text.dropout=0.0 --set loss.itm_start=$ITM_START \
  --set loss.itm_hardness=1 --set "loss.itm_hardness_ramp=[$RAMP_START,$RAMP_END]"
$BIN/python - "$RUN" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(f"{sys.argv[1]}/log.jsonl") if '"loss"' in l]
first, last = rows[0], rows[-1]
itm = [r for r in rows if "itm_loss" in r]      # ITM joins at loss.itm_start
itm_part = f", itm from step {itm[0]['step']} {itm[0]['itm_loss']:.3f} -> {itm[-1]['itm_loss']:.3f}" if itm else ""
print(f"loss: step {first['step']} {first['loss']:.3f} -> step {last['step']} {last['loss']:.3f} "
      f"(itc {first['itc_loss']:.3f} -> {last['itc_loss']:.3f}{itm_part}); model in {sys.argv[1]}/model")
PY
