"""Training data: WebDataset shards -> (image, caption) pairs -> transformed, tokenised, masked batches.

`shards` reads a shard folder (tars, sizes.json, manifest.parquet) and counts splits; `transforms`
holds the image transforms; `pipeline` is the streaming loader (split by rank and worker inside the
pipeline, shuffled before decoding, resumable by position); `collate` tokenises and applies MLM
masking; `eda` is the caption augmentation used by fine-tuning; `maploader` is the map-style
baseline that `scripts/bench_loader.py` compares against.
"""
