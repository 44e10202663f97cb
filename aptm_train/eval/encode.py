"""Batched encoding for evaluation and search: the test split read once, images and texts encoded.

`read_and_encode_split` streams the split's tars (only those) exactly once: it keeps every sample's metadata
(key, person id, captions, attributes, optionally a small JPEG thumbnail for the HTML page) and
encodes the images of the batches this process owns on the way (`Dist.owns`). Image features
(N, E) and image tokens (N, T, Dv) are then gathered so every process holds the full gallery;
the tokens are what ITM re-ranking and attribute scoring feed the fusion encoder. Text tokens are
NOT stored (Q x L x Dt would rival the image tokens): re-ranking re-encodes each query chunk's
texts, one cheap text pass per query instead of per pair.
"""
from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from mals_gen.contract import NUM_MALS_ATTRIBUTES, NUM_PA100K_ATTRIBUTES
from mals_gen.errors import UserError

from .dist import Dist, gather_rows

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: training's `--precision no` (accelerate's word for full precision) means fp32 here too
PRECISION_ALIASES = {"no": "fp32"}
THUMB_SIZE = (128, 48)   # (H, W) of the JPEG thumbnails kept for the HTML page


@dataclass
class Encoder:
    """A model ready for inference plus everything needed to feed it."""
    model: torch.nn.Module
    tokenizer: object
    transform: object                      # PIL image -> (3, H, W) float tensor
    device: torch.device
    dist: Dist = field(default_factory=Dist)
    batch_size: int = 64
    max_len: int = 56
    precision: str = "fp32"
    progress: bool = True

    def autocast(self):
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    @property
    def token_dtype(self) -> torch.dtype:
        """Stored image tokens: half precision when the model runs in half precision (memory)."""
        return PRECISIONS[self.precision] or torch.float32

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        from ..text import tokenize

        ids, mask = tokenize(self.tokenizer, texts, max_len=self.max_len)   # (B, L), (B, L)
        return ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def images(self, pil_images: list[Image.Image]) -> tuple[torch.Tensor, torch.Tensor]:
        """PIL images -> image tokens (B, T, Dv) in token_dtype, image features (B, E) fp32."""
        pixels = torch.stack([self.transform(im.convert("RGB")) for im in pil_images]).to(self.device)
        with self.autocast():
            tokens, feats = self.model.encode_image(pixels)                 # (B, T, Dv), (B, E)
        return tokens.to(self.token_dtype), feats.float()

    @torch.no_grad()
    def text_feats(self, texts: list[str]) -> torch.Tensor:
        ids, mask = self.tokenize(texts)
        with self.autocast():
            _, feats = self.model.encode_text(ids, mask)                    # (B, E)
        return feats.float()

    def warn(self, line: str) -> None:
        """A warning line (main process only, above the progress bar)."""
        if self.dist.is_main:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stderr)

    def bar(self, total: int | None, desc: str):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="img" if "image" in desc else "it",
                    disable=not (self.progress and self.dist.is_main), dynamic_ncols=True)


@dataclass
class SplitData:
    """Metadata of an evaluation split: one gallery image per sample, one query per caption."""
    keys: list[str]
    person_ids: list[str]
    sources: list[str]
    captions: list[str]                    # queries (cleaned as for training)
    query_image: np.ndarray                # (Q,) index of the image each caption belongs to
    attrs: np.ndarray | None               # (N, 27) int8, -1 unknown; None when no sample carries any
    pa100k: np.ndarray | None              # (N, 26) int8, -1 unknown; None when absent
    thumbs: list[bytes] | None = None      # small JPEGs for the HTML page
    skipped: list = field(default_factory=list)   # (tar, key, reason) of unreadable samples left out
    dropped_queries: int = 0               # captions of those samples: no true image, not scored

    @property
    def query_ids(self) -> list[str]:
        return [self.person_ids[i] for i in self.query_image]


@dataclass
class EncodedImages:
    feats: torch.Tensor                    # (N, E) fp32, L2-normalised
    tokens: torch.Tensor | None            # (N, T, Dv) token_dtype (None when not kept)


def _attr_row(values, n: int) -> list[int]:
    if values is None or len(values) != n:
        return [-1] * n
    return [int(v) for v in values]


def _thumb(image: Image.Image) -> bytes:
    im = image.copy()
    im.thumbnail((THUMB_SIZE[1], THUMB_SIZE[0]))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def encode_image_stream(enc: Encoder, jpgs: Iterable[bytes | Image.Image], total: int | None,
                        desc: str = "images", on_item=None, keep_tokens: bool = True) -> EncodedImages:
    """Encode a stream of images (JPEG bytes, or PIL images decoded by a caller that skips unreadable
    ones: `data.skips`) in global batches of `enc.batch_size`; each process encodes the batches it
    owns; the rows are gathered so that every process returns all N rows in stream order.
    `on_item(i, image)` sees every item (all processes), e.g. to keep a thumbnail. Without
    `keep_tokens` only the features are kept (a search index needs no tokens)."""
    feats, tokens, index = [], [], []
    buf: list[bytes] = []
    n, b = 0, 0
    with enc.bar(total, desc) as bar:
        for jpg in _with_tail(jpgs):
            if jpg is not None:
                if on_item is not None:
                    on_item(n, jpg)
                buf.append(jpg)
                n += 1
            if buf and (len(buf) == enc.batch_size or jpg is None):
                if enc.dist.owns(b):
                    ims = [Image.open(io.BytesIO(j)) if isinstance(j, bytes) else j for j in buf]
                    t, f = enc.images(ims)                                  # (b, T, Dv), (b, E)
                    if keep_tokens:
                        tokens.append(t)
                    feats.append(f)
                    index.append(torch.arange(n - len(buf), n))
                bar.update(len(buf))
                buf, b = [], b + 1
    if n == 0:
        raise UserError(f"no {desc} to encode")
    idx = torch.cat(index) if index else torch.zeros(0, dtype=torch.long)
    if not feats:   # this rank owned no batch (more ranks than batches)
        t, f = enc.images([Image.new("RGB", (8, 8))])
        tokens, feats = [t[:0]], [f[:0]]
    all_feats = gather_rows(torch.cat(feats), idx.to(enc.device), n, enc.dist)        # (N, E)
    if not keep_tokens:
        return EncodedImages(all_feats.to(enc.device), None)
    all_tokens = gather_rows(torch.cat(tokens), idx.to(enc.device), n, enc.dist)      # (N, T, Dv)
    return EncodedImages(all_feats.to(enc.device), all_tokens.to(enc.device))


def _with_tail(items: Iterable) -> Iterator:
    """The items, then one None to flush the last batch."""
    yield from items
    yield None


def encode_texts(enc: Encoder, texts: list[str], desc: str = "texts") -> torch.Tensor:
    """(Q,) texts -> (Q, E) fp32 features, dealt by global batch and gathered."""
    feats, index = [], []
    bs = enc.batch_size
    with enc.bar(len(texts), desc) as bar:
        for b, start in enumerate(range(0, len(texts), bs)):
            chunk = texts[start:start + bs]
            if enc.dist.owns(b):
                feats.append(enc.text_feats(chunk))                         # (b, E)
                index.append(torch.arange(start, start + len(chunk)))
            bar.update(len(chunk))
    if not feats:
        feats, index = [enc.text_feats(["x"])[:0]], [torch.zeros(0, dtype=torch.long)]
    return gather_rows(torch.cat(feats), torch.cat(index).to(enc.device), len(texts), enc.dist)


def read_and_encode_split(enc: Encoder, shards, split: str, *, thumbnails: bool = False
                          ) -> tuple[SplitData, EncodedImages]:
    """Read `split` of a shard folder once: metadata of every sample + the encoded gallery.

    An unreadable image (or the rest of a truncated tar) is skipped with one warning line: it is left
    out of the gallery and its captions out of the queries (a query without its true image cannot be
    scored); `SplitData.skipped` / `dropped_queries` say how many."""
    from ..data.collate import clean_caption
    from ..data.shards import iter_split_tars
    from ..data.skips import BadImage, Skips, decode_image

    keys, pids, sources, captions, q_image, attrs, pa100k, thumbs = [], [], [], [], [], [], [], []
    has = {"attrs": False, "pa100k": False}
    skips = Skips(echo=enc.warn)
    dropped = [0]

    def jpgs() -> Iterator[Image.Image]:
        for tar, s in iter_split_tars(shards, split, skips):
            try:
                image = decode_image(s.image)
            except BadImage as err:
                skips.add(tar, s.key, f"{err}; left out of the gallery with its {len(s.captions)} query(ies)")
                dropped[0] += len(s.captions)
                continue
            i = len(keys)
            keys.append(s.key)
            pids.append(s.person_id)
            sources.append(s.source)
            for c in s.captions:
                captions.append(clean_caption(c, s.source))
                q_image.append(i)
            has["attrs"] |= s.mals_attrs is not None
            has["pa100k"] |= s.pa100k_attrs is not None
            attrs.append(_attr_row(s.mals_attrs, NUM_MALS_ATTRIBUTES))
            pa100k.append(_attr_row(s.pa100k_attrs, NUM_PA100K_ATTRIBUTES))
            yield image

    on_item = (lambda i, image: thumbs.append(_thumb(image))) if thumbnails else None
    total = shards.counts(split).samples
    images = encode_image_stream(enc, jpgs(), total, desc=f"{split} images", on_item=on_item)
    data = SplitData(keys, pids, sources, captions, np.asarray(q_image, dtype=np.int64),
                     np.asarray(attrs, dtype=np.int8) if has["attrs"] else None,
                     np.asarray(pa100k, dtype=np.int8) if has["pa100k"] else None,
                     thumbs if thumbnails else None, skips.items, dropped[0])
    return data, images
