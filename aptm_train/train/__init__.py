"""The trainer: config, optimiser and schedules, the accelerate loop, checkpoints, logging, validation.

`aptm-train pretrain` / `finetune` (aptm_train/commands) build a `TrainConfig` and call
`loop.train(cfg)`; everything else here is a small module with one job.
"""
