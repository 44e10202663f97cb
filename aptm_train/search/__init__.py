"""Text search over a gallery of images: an on-disk embedding index, ITM re-ranking, result grids."""
