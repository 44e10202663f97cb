"""FID and KID of a run's (or a shard folder's) images against a reference shard folder.

Features come from one extractor, computed once per image, and go to torchmetrics'
FrechetInceptionDistance and KernelInceptionDistance through an identity "feature network", so
FID and KID see the same features. The extractor is torch-fidelity's Inception-v3 (what FID is
defined with) from a local weights file or a hub id; tests pass a tiny random network instead,
which checks the plumbing only: its numbers are not FID. Images are resized to 299x299 on both
sides alike; unreadable images are skipped with one warning line each and counted.
"""
from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .. import layout
from ..errors import UserError
from ..tario import PartTar

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
SIDE = 299


def image_tars(folder: str | Path) -> list[Path]:
    """The tars holding a folder's images: a shard folder's NNNNNN.tar or a run's images/part-*.tar."""
    folder = Path(folder)
    if (folder / "manifest.parquet").is_file():
        tars = sorted(folder.glob("[0-9]*.tar"))
    else:
        tars = sorted(layout.images_dir(folder).glob("part-*.tar"))
    if not tars:
        raise UserError(f"{folder} holds no images: pass a run folder (`mals generate --out`) or a shard folder")
    return tars


def iter_images(folder: str | Path, limit: int, skipped: list) -> Iterator[np.ndarray]:
    """(299, 299, 3) uint8 arrays of the first `limit` readable images, in tar and member order."""
    count = 0
    for path in image_tars(folder):
        with PartTar(path) as tar:
            for name in sorted(n for n in tar.index if n.endswith(".jpg")):
                try:
                    with Image.open(io.BytesIO(tar.read(name))) as img:
                        yield np.asarray(img.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BICUBIC))
                except (OSError, SyntaxError, ValueError) as err:
                    skipped.append((str(path), name, str(err)))
                    print(f"warning: {path}: skipping {name} ({err})", file=sys.stderr)
                    continue
                count += 1
                if count >= limit:
                    return


def inception(weights: str | None):
    """torch-fidelity's Inception-v3 (2048 pool features) from a file, a hub id, or its download cache."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    path = _weights_path(weights) if weights else None
    try:
        return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                  feature_extractor_weights_path=path)
    except (OSError, RuntimeError) as err:  # offline download, damaged file
        raise UserError(f"cannot load the Inception weights ({str(err).splitlines()[0]}): download {INCEPTION_URL} "
                        "on a machine with network and pass --inception FILE (or a hub id REPO_ID[:FILE])") from None


def _weights_path(weights: str) -> str:
    if Path(weights).is_file():
        return weights
    repo, _, filename = weights.partition(":")
    try:
        from huggingface_hub import hf_hub_download

        return hf_hub_download(repo, filename or INCEPTION_FILE)
    except Exception as err:  # noqa: BLE001 - hub errors have many types; all mean "not available"
        raise UserError(f"--inception {weights}: not a local file and not on the hub ({type(err).__name__}); "
                        f"download {INCEPTION_URL} and pass --inception FILE") from None


def identity_features(dim: int):
    """An identity 'feature network' for torchmetrics: the features were computed already."""
    import torch

    class Identity(torch.nn.Module):
        num_features = dim

        def forward(self, x):
            return x

    return Identity()


def _features(extractor, folder, limit: int, batch: int, device, skipped: list, label: str):
    import torch

    chunks, pending = [], []
    bar = tqdm(total=limit, desc=f"fid: {label}", unit="img", disable=limit <= 0)

    def flush():
        x = torch.from_numpy(np.stack(pending)).permute(0, 3, 1, 2).to(device)
        with torch.no_grad():
            chunks.append(extractor(x).reshape(len(pending), -1).double().cpu())
        bar.update(len(pending))
        pending.clear()

    for image in iter_images(folder, limit, skipped):
        pending.append(image)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    bar.close()
    if sum(len(c) for c in chunks) < 2:
        raise UserError(f"{folder}: fewer than 2 readable images; FID needs many (thousands for stable figures)")
    return torch.cat(chunks)


def fid_kid(run: str | Path, reference: str | Path, *, extractor=None, weights: str | None = None,
            limit: int = 10_000, batch_size: int = 64, device: str = "cpu", kid_subset: int = 1000) -> dict:
    """{'fid', 'kid_mean', 'kid_std', 'images', 'reference_images', 'skipped'} of `run` against `reference`."""
    import torch
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    network = "inception-v3 (torch-fidelity)" if extractor is None else f"{type(extractor).__name__} (not FID)"
    extractor = (extractor if extractor is not None else inception(weights)).to(device).eval()
    skipped: list = []
    fake = _features(extractor, run, limit, batch_size, device, skipped, "images")
    real = _features(extractor, reference, limit, batch_size, device, skipped, "reference")
    fid = FrechetInceptionDistance(feature=identity_features(fake.shape[1]))
    kid = KernelInceptionDistance(feature=identity_features(fake.shape[1]),
                                  subset_size=min(kid_subset, len(fake), len(real)))
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):  # KID draws random subsets: the same figures on every call
        torch.manual_seed(0)
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid_mean": float(kid_mean), "kid_std": float(kid_std),
            "images": len(fake), "reference_images": len(real), "skipped": len(skipped), "feature_network": network}
