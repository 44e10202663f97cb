#!/usr/bin/env bash
# `make demo`: the quickstart end to end on the offline default (sketch images, CPU, minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
$BIN/mals run pipelines/quickstart.yaml
$BIN/mals inspect runs/quickstart --rows 3
$BIN/mals verify shards/quickstart
bash scripts/demo_train.sh
# the final model: the demo validates once, at its last step, so best/ is the same weights
bash scripts/demo_eval.sh runs/quickstart-pretrain/model
