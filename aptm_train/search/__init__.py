"""Text search over a gallery of images: an on-disk embedding index, ITM re-ranking, result pictures.

`session.open_search` loads a checkpoint and a gallery's index once for many queries.
"""
