"""A gallery's image embeddings on disk, rebuilt only when the gallery or the checkpoint changes.

A gallery is a folder of images (jpg / jpeg / png / bmp / webp, searched recursively) or a shard
folder (every sample of every split, identified as "TAR/KEY"). The index file (`.npz`, written
atomically) holds the (N, E) fp32 ITC features, the item ids, and a fingerprint: a hash of every
file's relative path, size and mtime, of the checkpoint's config and weights file (size + mtime),
and of the image transform. Any change means a rebuild; an unchanged gallery is never re-encoded.
An unreadable image (or the rest of a truncated tar) is skipped with one warning line naming file
and key; the index holds only the readable items and its meta lists the skipped ones.
Image tokens are NOT stored (49 x 1024 floats per image for aptm-base): search re-encodes only
the few candidates it re-ranks.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mals_gen.contract import SHARD_IMAGE_EXT, ShardSample
from mals_gen.errors import UserError
from mals_gen.fsutil import atomic_path

from ..data.shards import read_tar, to_sample
from ..data.skips import BadImage, Skips, decode_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
INDEX_FORMAT = "aptm-train-index/1"


@dataclass(frozen=True)
class Gallery:
    root: Path
    kind: str                     # "folder" | "shards"
    items: tuple[str, ...]        # relative image paths, or "TAR/KEY" for shards
    files: tuple[tuple[str, int, int], ...]   # (relative file, size, mtime_ns) the items come from

    def fingerprint(self) -> str:
        h = hashlib.sha256(f"{self.kind}\n".encode())
        for name, size, mtime in self.files:
            h.update(f"{name}\t{size}\t{mtime}\n".encode())
        return h.hexdigest()


def _stat(path: Path, root: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.relative_to(root)), st.st_size, st.st_mtime_ns


def open_gallery(path: str | Path) -> Gallery:
    """List a gallery folder: shard tars if it holds any, else images found recursively."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"--gallery {root}: not a folder; pass a folder of images or a shard folder")
    tars = sorted(root.glob("*.tar"))
    if tars:
        items = _shard_items(root, tars)
        files = tuple(_stat(t, root) for t in tars)
        return Gallery(root, "shards", tuple(items), files)
    images = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not images:
        raise UserError(f"--gallery {root}: no images ({', '.join(IMAGE_SUFFIXES)}) and no .tar shards in it")
    files = tuple(_stat(p, root) for p in images)
    return Gallery(root, "folder", tuple(f[0] for f in files), files)


def _shard_items(root: Path, tars: list[Path]) -> list[str]:
    """"TAR/KEY" of every sample in tar order: from manifest.parquet, else from the tars' headers."""
    manifest = root / "manifest.parquet"
    if manifest.is_file():
        import pyarrow.parquet as pq

        table = pq.read_table(manifest, columns=["key", "shard"]).to_pydict()
        by_tar: dict[str, list[str]] = {}
        for key, shard in zip(table["key"], table["shard"]):
            by_tar.setdefault(shard, []).append(f"{shard}/{key}")
        return [item for tar in tars for item in by_tar.get(tar.name, [])]
    items = []
    for tar in tars:
        with tarfile.open(tar) as tf:   # headers only: an uncompressed tar seeks over the data
            items += [f"{tar.name}/{m.name.rsplit('.', 1)[0]}" for m in tf.getmembers()
                      if m.name.endswith(f".{SHARD_IMAGE_EXT}")]
    return items


def iter_images(gallery: Gallery, wanted: set[int] | None = None, skips=None
                ) -> Iterator[tuple[int, bytes]]:
    """(item index, image bytes) in item order; only the `wanted` items when given. With `skips`
    (a `data.skips.Skips`), an unreadable file or truncated tar is warned and skipped."""
    if gallery.kind == "folder":
        for i, rel in enumerate(gallery.items):
            if wanted is None or i in wanted:
                try:
                    yield i, (gallery.root / rel).read_bytes()
                except OSError as err:
                    if skips is None:
                        raise UserError(f"--gallery: cannot read {gallery.root / rel} ({err})") from None
                    skips.add(gallery.root / rel, None, f"unreadable file ({err})")
        return
    for i, sample in iter_samples(gallery, wanted, skips):
        yield i, sample.image


def iter_samples(gallery: Gallery, wanted: set[int] | None = None, skips=None
                 ) -> Iterator[tuple[int, ShardSample]]:
    """(item index, sample with its KEY.json fields) of a shard gallery, in tar order; with `skips`
    a truncated tar is warned and the rest of it skipped."""
    position = {item: i for i, item in enumerate(gallery.items)}
    tars = sorted({gallery.items[i].split("/", 1)[0] for i in wanted}) if wanted is not None else \
        [f[0] for f in gallery.files]
    for name in tars:
        for files in read_tar(str(gallery.root / name), skips):
            i = position.get(f"{name}/{files['__key__']}")
            if i is not None and (wanted is None or i in wanted):
                yield i, to_sample(files)


def decoded_images(gallery: Gallery, skips) -> Iterator[tuple[int, object]]:
    """(item index, RGB PIL image) of every readable item; the others go to `skips` with one warning."""
    for i, data in iter_images(gallery, skips=skips):
        try:
            yield i, decode_image(data)
        except BadImage as err:
            file, _, key = gallery.items[i].partition("/") if gallery.kind == "shards" else (gallery.items[i], "", "")
            skips.add(gallery.root / file, key or None, str(err))


def load_images(gallery: Gallery, indices: list[int]) -> dict[int, bytes]:
    return dict(iter_images(gallery, set(indices)))


def checkpoint_identity(folder: str | Path, transform_desc: str) -> str:
    """Hash of the checkpoint's config.json bytes, weights size + mtime, and the image transform."""
    folder = Path(folder)
    h = hashlib.sha256((folder / "config.json").read_bytes())
    st = (folder / "model.safetensors").stat()
    h.update(f"{folder.resolve()}\t{st.st_size}\t{st.st_mtime_ns}\t{transform_desc}".encode())
    return h.hexdigest()


def default_index_path(gallery: Gallery, ckpt_id: str) -> Path:
    """Beside the user's files would pollute them: a cache folder keyed by gallery path and checkpoint."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aptm-train" / "index"
    where = hashlib.sha256(str(gallery.root.resolve()).encode()).hexdigest()[:16]
    return cache / f"{where}-{ckpt_id[:16]}.npz"


@dataclass
class GalleryIndex:
    feats: np.ndarray             # (N, E) fp32 L2-normalised
    items: tuple[str, ...]
    meta: dict

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, feats=self.feats, items=np.array(self.items, dtype=str),
                     meta=np.array(json.dumps(self.meta)))
        return path

    @classmethod
    def load(cls, path: Path) -> GalleryIndex | None:
        """The index at `path`, or None if it is missing or unreadable (then it is rebuilt)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["feats"], tuple(str(s) for s in z["items"]), json.loads(str(z["meta"])))
        except (OSError, ValueError, KeyError):
            return None


def build_or_load_index(enc, gallery: Gallery, ckpt_id: str, path: Path | None = None, echo=print
                        ) -> tuple[GalleryIndex, bool]:
    """Return (index, reused). Reuse the file when gallery fingerprint and checkpoint id match."""
    path = path or default_index_path(gallery, ckpt_id)
    meta = {"format": INDEX_FORMAT, "gallery": str(gallery.root.resolve()), "kind": gallery.kind,
            "fingerprint": gallery.fingerprint(), "checkpoint": ckpt_id, "count": len(gallery.items)}
    old = GalleryIndex.load(path) if path.is_file() else None
    if old is not None and {k: v for k, v in old.meta.items() if k != "skipped"} == meta:
        if old.meta.get("skipped"):
            echo(f"index {path}: {len(old.meta['skipped'])} unreadable gallery item(s) were skipped when it was built")
        return old, True
    echo(f"indexing {len(gallery.items):,} gallery images -> {path}")
    items, feats, skips = encode_readable(enc, gallery, "gallery images")
    index = GalleryIndex(feats, items, meta | {"skipped": [[f, k, r] for f, k, r in skips.items]})
    if enc.dist.is_main:
        index.save(path)
    return index, False


def encode_readable(enc, gallery: Gallery, desc: str) -> tuple[tuple[str, ...], np.ndarray, Skips]:
    """(readable item ids, (N, E) fp32 ITC features, what was skipped) of a gallery."""
    from ..eval.encode import encode_image_stream

    skips = Skips(echo=enc.warn)
    kept: list[int] = []

    def stream():
        for i, image in decoded_images(gallery, skips):
            kept.append(i)
            yield image

    images = encode_image_stream(enc, stream(), len(gallery.items), desc=desc, keep_tokens=False)
    if skips:
        enc.warn(f"skipped {len(skips)} unreadable input(s) of {len(gallery.items):,} gallery items "
                 "(warned above); the rest were encoded")
    return tuple(gallery.items[i] for i in kept), images.feats.float().cpu().numpy(), skips


def pil_image(jpg: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(jpg)).convert("RGB")
