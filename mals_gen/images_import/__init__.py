"""`mals import images SOURCE --out RUN`: any images a user has, as a run the other stages read.

`sources.py` lists a SOURCE (folder, list file, tar / shard folder, parquet with a path column),
`crops.py` cuts scene images into person crops behind the WebPerson gate, `stage.py` plans the run
(plan.json + one listing part per part, appendable) and writes plan / generate parts.
"""
