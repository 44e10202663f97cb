"""Captioning and CLIP-score rows: our stage / scorer vs the bare model calls on the same batches.

Captioning: the images come from a sketch-backend `run_generate` at the generation size (512x256),
so our caption stage reads them exactly as in a real run (tar -> JPEG decode -> BLIP processor ->
`generate` -> decode -> parquet). The model is saved to a local folder and loaded by the stage's
own loader (`build_captioner`), once, outside the timing; the timed part is the stage's part loop
(`run_stage` + `caption_part`, what `run_caption` runs after loading). "bare" is a loop of
`model.generate(**inputs, **same settings)` on inputs prepared beforehand: the model's floor.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from .core import Bench, captions, params_m, pictures, ratio, write_vocab
from .models import blip, clip_model_name

BLIP_PUBLISHED = (
    "no published throughput for BLIP-large captioning at batch 64; ratio ours / bare is the figure"
)
_runs = itertools.count()


def sketch_run(bench: Bench, n: int):
    """A run folder with n generated images (sketch backend, no weights) and its plan."""
    from mals_gen.generate.config import GenerateConfig
    from mals_gen.generate.stage import run_generate
    from mals_gen.plan import load_plan

    h, w = bench.profile.gen_hw
    run = bench.workdir / f"caption-run-{next(_runs)}"
    run_generate(
        run, GenerateConfig(n=n, part_size=n, backend="sketch", height=h, width=w), progress=False, echo=None
    )
    return run, load_plan(run)


def run_images(run) -> list:
    """The run's images as PIL, in plan order (the same batches the stage will caption)."""
    import io

    from PIL import Image

    from mals_gen.tario import read_members

    members = read_members(run / "images" / "part-00000.tar")
    return [Image.open(io.BytesIO(data)).convert("RGB") for _, data in sorted(members.items())]


def _bare_captions(
    bench: Bench, model, processor, images: list, prefix: str, gen: dict, setting: dict
) -> dict:
    """A loop of `model.generate` on the run's batches, prepared (processor, to device) beforehand."""
    import torch

    bs, p = bench.profile.caption_batch, bench.profile
    inputs = [
        processor(images=images[s : s + bs], text=[prefix] * len(images[s : s + bs]), return_tensors="pt").to(
            bench.device
        )
        for s in range(0, len(images), bs)
    ]
    for batch in inputs:
        batch["pixel_values"] = batch["pixel_values"].to(bench.dtype)  # (B, 3, S, S)
    batches = itertools.cycle(inputs)

    def bare():
        with torch.inference_mode():
            return model.generate(**next(batches), **gen)  # (B, T)

    bench.reset_peak()
    items, sec = bench.timed(bare, items_per_call=bs, warmup=1, calls=p.caption_batches)
    return bench.row(
        "caption.blip-large.bare",
        items=items,
        seconds=sec,
        unit="images",
        setting=setting,
        note="model.generate loop on prepared inputs",
        compares_with=BLIP_PUBLISHED,
    )


def caption_rows(bench: Bench) -> Iterator[dict]:
    from mals_gen.caption.presets import generate_kwargs, preset_settings
    from mals_gen.caption.stage import CaptionConfig, build_captioner, caption_part, resolve_spec
    from mals_gen.runner import run_stage

    bench.need("caption")
    p = bench.profile
    bs, n = p.caption_batch, p.caption_batch * p.caption_batches
    model, processor = blip(p.size, bench.device, bench.dtype, write_vocab(bench.workdir / "vocab"))
    folder = bench.workdir / "blip"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    warm_run, _ = sketch_run(bench, bs)
    run, plan = sketch_run(bench, n)
    settings = preset_settings("default", "blip")
    settings["max_new_tokens"] = p.caption_max_new_tokens or settings["max_new_tokens"]
    settings["min_new_tokens"] = min(settings["min_new_tokens"], settings["max_new_tokens"])
    gen = generate_kwargs(settings)
    setting = {
        "model": "BLIP-large sized (ViT-L/16 384 + bert-base decoder), random weights",
        "batch": bs,
        "dtype": str(bench.dtype).removeprefix("torch."),
        "images": f"{p.gen_hw[0]}x{p.gen_hw[1]} JPEG",
        **gen,
        "prefix": settings["prefix"],
        "params_m": params_m(model),
    }

    bare_row = _bare_captions(bench, model, processor, run_images(run), settings["prefix"], gen, setting)
    yield bare_row
    model = None  # free it before the stage loads its own
    bench.free()

    bench.need("caption")
    cfg = CaptionConfig(
        captioner="blip",
        model=str(folder),
        batch_size=bs,
        device=bench.device.type,
        dtype=setting["dtype"],
        max_new_tokens=settings["max_new_tokens"],
        min_new_tokens=settings["min_new_tokens"],
    )
    spec = resolve_spec(cfg, plan)
    captioner = build_captioner(spec, cfg)  # the stage's loader, untimed

    def stage(folder_):
        return lambda: run_stage(
            "caption",
            folder_,
            plan.parts,
            lambda ctx: caption_part(ctx, [captioner], (spec,), cfg),
            requires="generate",
            progress=False,
            echo=None,
        )

    bench.reset_peak()
    stage(warm_run)()  # warm-up on its own run folder
    items, sec = bench.timed(stage(run), items_per_call=n, warmup=0, calls=1)
    yield ratio(
        bench.row(
            "caption.blip-large.ours",
            items=items,
            seconds=sec,
            unit="images",
            setting=setting,
            note="caption stage part loop: tar read + JPEG decode + processor + generate + parquet",
            compares_with=BLIP_PUBLISHED,
        ),
        bare_row,
        "our caption stage vs bare generate",
    )


def clip_rows(bench: Bench) -> Iterator[dict]:
    """ViT-B-32 CLIP score at batch 256: our ClipScorer (PIL preprocess included) vs bare encodes."""
    import torch

    from mals_gen.filter.clip_score import ClipScorer

    bench.need("clip")
    p = bench.profile
    bs = p.clip_batch
    scorer = ClipScorer(clip_model_name(p.size, bench.workdir), None, device=str(bench.device), batch_size=bs)
    images = pictures(bs, *p.gen_hw, seed=3)
    texts = captions(bs, seed=3)
    setting = {
        "model": "open_clip ViT-B-32 config, random weights",
        "batch": bs,
        "dtype": "float32 (as the filter)",
        "images": f"{p.gen_hw[0]}x{p.gen_hw[1]} PIL -> 224",
        "params_m": params_m(scorer.model),
    }
    pixels = torch.stack([scorer.preprocess(im) for im in images]).to(bench.device)  # (B, 3, 224, 224)
    tokens = scorer.tokenizer(texts).to(bench.device)  # (B, 77)

    def bare():
        with torch.no_grad():
            img = scorer.model.encode_image(pixels, normalize=True)  # (B, D)
            txt = scorer.model.encode_text(tokens, normalize=True)  # (B, D)
            return 100.0 * (img * txt).sum(dim=-1)  # (B,)

    bench.reset_peak()
    items, sec = bench.timed(bare, items_per_call=bs, warmup=1, calls=p.clip_batches)
    bare_row = bench.row(
        "clip.vit-b-32.bare",
        items=items,
        seconds=sec,
        unit="pairs",
        setting=setting,
        note="encode_image + encode_text on prepared tensors",
    )
    yield bare_row
    many_images, many_texts = images * p.clip_batches, texts * p.clip_batches
    bench.reset_peak()
    items, sec = bench.timed(
        lambda: scorer.score(many_images, many_texts), items_per_call=len(many_images), warmup=0, calls=1
    )
    yield ratio(
        bench.row(
            "clip.vit-b-32.ours",
            items=items,
            seconds=sec,
            unit="pairs",
            setting=setting,
            note="ClipScorer.score: PIL preprocess + tokenise + encode, batch by batch",
        ),
        bare_row,
        "our scorer vs bare encodes",
    )
