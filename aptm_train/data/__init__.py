"""Training data: WebDataset shards -> (image, caption) pairs -> transformed, tokenised, masked batches.

`shards` reads a shard folder (tars, sizes.json, splits.json, manifest.parquet), counts splits and
reads one split's tars only; `transforms` holds the image transforms; `pipeline` is the streaming
loader (split by rank and worker inside the pipeline, captions spread over passes, shuffled before
decoding, resumable by position); `batching` makes the batches in the loader's workers; `collate`
tokenises and applies MLM masking; `eda` is the caption augmentation used by fine-tuning.
"""
