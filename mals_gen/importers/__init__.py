"""Importers: real text-based person retrieval datasets -> the same WebDataset shards as `mals shard`.

Each importer module only turns its file format into `Record`s (`read_records(root, images)`);
`common.import_dataset` validates them, lists missing images, rejects duplicate keys and writes
the shards through `mals_gen.shard.dataset.write_dataset`, the writer `mals shard` uses.
"""
from __future__ import annotations

IMPORTERS = {
    "cuhk-pedes": "cuhk_pedes",
    "icfg-pedes": "icfg_pedes",
    "rstpreid": "rstpreid",
    "pa100k": "pa100k",
    "mals-json": "mals_json",
    "aptm-json": "aptm_json",
}
