"""The APTM model: config, Swin image encoder, BERT text + fusion encoder, checkpoints, loading."""
