"""`mals shard` / `mals verify`: WebDataset shards with sizes, manifest, checksums and a card.

One deterministic tar writer (`tarwriter`) serves both the shard stage (`select` picks a run's kept samples,
`dataset` writes them) and every
importer (`mals_gen.importers`), so all shards share one layout and are byte-reproducible.
"""
