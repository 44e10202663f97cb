"""aptm_train: train, evaluate and search with APTM (text-based person retrieval) on MALS-style shards.

Model library: `aptm_train.model` (config, Swin, BERT fusion, checkpoints, pretrained loading,
conversion of released checkpoints), `aptm_train.text` (tokenizer), `aptm_train.losses` (one
function per loss, `Task` sums them). The `aptm-train` CLI lives in `aptm_train.cli`.
"""
__version__ = "0.1.0"
