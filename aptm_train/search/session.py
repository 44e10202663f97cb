"""One search session: a checkpoint's encoder and a gallery's index, loaded once for many queries.

Both `aptm-train search` and scripts/search_check.py open their search here, so they share the
index cache (the same checkpoint identity) and the same loading messages.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..eval import ITC_WEIGHT
from .index import Gallery, GalleryIndex, build_or_load_index, checkpoint_identity, open_gallery
from .search import Hit, search


@dataclass
class SearchSession:
    enc: object                 # eval.encode.Encoder
    gallery: Gallery
    index: GalleryIndex
    reused: bool                # the index came from its cache file, not from encoding the gallery

    def search(self, query: str, *, top: int = 10, rerank: int = 32, itc_weight: float = ITC_WEIGHT) -> list[Hit]:
        return search(self.enc, self.index, self.gallery, query, top=top, rerank=rerank, itc_weight=itc_weight)


def open_search(checkpoint: str | Path, gallery: str | Path, *, device: str = "auto", batch_size: int = 64,
                norm: str = "mals", echo=print, index_path: Path | None = None,
                progress: bool = True) -> SearchSession:
    """Load the model (a model folder or a training run) and the gallery's index (built if stale)."""
    from ..eval.run import build_encoder, checkpoint_folder

    folder = checkpoint_folder(checkpoint)
    enc = build_encoder(folder, device=device, batch_size=batch_size, norm=norm, progress=progress)
    gal = open_gallery(gallery)
    ckpt_id = checkpoint_identity(folder, f"{norm}:{enc.model.config.vision.img_size}")
    index, reused = build_or_load_index(enc, gal, ckpt_id, index_path, echo=echo)
    return SearchSession(enc, gal, index, reused)
