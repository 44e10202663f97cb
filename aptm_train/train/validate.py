"""Periodic validation: ITC-only text-to-image retrieval on the val split (R@1/5/10).

Encodes every val image (up to `max_images`) and each of their captions, ranks the gallery by
cosine similarity, and counts a hit when a top-K image has the query's identity (the person id
when the data names persons, else the image). The full evaluator (ITM re-ranking, mAP, mINP) is
`aptm-train eval`; this is the cheap signal the best checkpoint is chosen on, never the test split.
"""
from __future__ import annotations

import io

import torch
from PIL import Image

from ..data.collate import clean_caption
from ..data.pipeline import stable_int
from ..data.shards import iter_split_tars
from ..data.skips import BadImage, Skips, decode_image


def val_samples(shards, max_images: int, id_by: str) -> list[dict]:
    """The first `max_images` readable val samples (0 = all), read from the val tars only; an
    unreadable image is skipped with one warning line (it would stop training at validation)."""
    out = []
    skips = Skips()
    for tar, s in iter_split_tars(shards, "val", skips):
        try:
            decode_image(s.image)
        except BadImage as err:
            skips.add(tar, s.key, f"{err}; left out of validation")
            continue
        ident = s.key if id_by == "image" else s.person_id
        out.append({"image": s.image, "captions": list(s.captions), "id": stable_int("id", ident),
                    "source": s.source})
        if max_images and len(out) >= max_images:
            break
    return out


@torch.no_grad()
def itc_retrieval(model, samples: list[dict], image_fn, tokenizer, tokenize, *, batch_size: int,
                  max_len: int, device, autocast) -> dict[str, float]:
    """R@1/5/10 (%) of text-to-image retrieval by ITC similarity; {} when there is nothing to rank."""
    texts = [(clean_caption(c, s["source"]), s["id"]) for s in samples for c in s["captions"]]
    if not samples or not texts:
        return {}
    was_training = model.training
    model.eval()
    image_feats, text_feats = [], []
    with autocast():
        for i in range(0, len(samples), batch_size):
            chunk = samples[i:i + batch_size]
            pixels = torch.stack([image_fn(Image.open(io.BytesIO(s["image"])).convert("RGB")) for s in chunk])
            image_feats.append(model.encode_image(pixels.to(device))[1].float())   # (b, E)
        for i in range(0, len(texts), batch_size):
            ids, mask = tokenize(tokenizer, [t for t, _ in texts[i:i + batch_size]], max_len=max_len)
            text_feats.append(model.encode_text(ids.to(device), mask.to(device))[1].float())  # (b, E)
    model.train(was_training)
    sim = torch.cat(text_feats) @ torch.cat(image_feats).T                  # (T, I)
    gallery_ids = torch.tensor([s["id"] for s in samples])                  # (I,)
    query_ids = torch.tensor([i for _, i in texts])                         # (T,)
    # stable sort: ties broken by gallery index, so the metric is deterministic
    order = torch.sort(sim.cpu(), dim=1, descending=True, stable=True).indices   # (T, I)
    hits = gallery_ids[order] == query_ids[:, None]                         # (T, I)
    return {f"val_r{k}": round(100.0 * hits[:, :k].any(1).float().mean().item(), 3) for k in (1, 5, 10)}
