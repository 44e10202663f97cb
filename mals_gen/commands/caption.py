"""`mals caption RUN`: caption the generated images of a run (thin: parse, build config, call).

    mals caption RUN                              # follows the run: sketch -> prompt, diffusion -> BLIP
    mals caption RUN --model ./blip-large --preset mals --batch-size 32 --device cuda
    mals caption RUN --captioner vlm --model Qwen/Qwen2.5-VL-3B-Instruct --instructions styles.txt
    mals caption RUN --captioner vlm --styles styles/cuhk.json        # one mined style per caption
    mals caption RUN --captioner vlm=Qwen/Qwen2.5-VL-3B-Instruct --captioner vlm=OpenGVLab/InternVL3-2B-hf \
        --captions-per-image 2 --styles styles/cuhk.json              # two VLMs, a caption each
    mals caption RUN --captioner blip --captioner rewrite=Qwen/Qwen2.5-0.5B-Instruct --captions-per-image 2
"""
from __future__ import annotations

from pathlib import Path

import typer

from . import _options as opt

RUN = typer.Argument(..., help="Run folder made by `mals generate` (holds plan.json).")
CAPTIONER = typer.Option(None, "--captioner", help="prompt | blip | vlm | rewrite, or KIND=MODEL; repeat for "
                                                  "several captioners. Default follows the run: "
                                                  "sketch -> prompt, diffusion -> blip.")
STYLES = typer.Option(None, "--styles", help="Style file of `mals styles`: prompt / vlm / rewrite captions "
                                             "each follow one drawn style.")
PER_IMAGE = typer.Option(None, "--captions-per-image", help="Captions per image, taken from the captioners in turn.")
MODEL = typer.Option(None, "--model", help="Hub id or local folder of the captioner model "
                                           "(blip default: Salesforce/blip-image-captioning-large).")
PRESET = typer.Option(None, "--preset", help="default (short, non-repetitive) | "
                                             "mals (MALS's >= 30-token BLIP captions).")
INSTRUCTIONS = typer.Option(None, "--instructions", help="vlm: file of style instructions, one per line "
                                                         "(default pipelines/caption_styles.txt).")
BATCH_SIZE = typer.Option(None, "--batch-size", help="Images per generate call.")
DEVICE = typer.Option(None, "--device", help="auto | cpu | cuda.")
DTYPE = typer.Option(None, "--dtype", help="auto | float32 | float16 | bfloat16.")


def register(app: typer.Typer) -> None:
    @app.command("caption")
    def caption(
        run: Path = RUN,
        captioner: list[str] | None = CAPTIONER,
        model: str | None = MODEL,
        preset: str | None = PRESET,
        instructions: Path | None = INSTRUCTIONS,
        styles: Path | None = STYLES,
        captions_per_image: int | None = PER_IMAGE,
        batch_size: int | None = BATCH_SIZE,
        device: str | None = DEVICE,
        dtype: str | None = DTYPE,
        config_file: str | None = opt.CONFIG_FILE,
        overrides: list[str] | None = opt.SET,
        rank: int | None = opt.RANK,
        world_size: int | None = opt.WORLD_SIZE,
        no_progress: bool = opt.NO_PROGRESS,
    ) -> None:
        """Caption every generated image of RUN into RUN/caption/ (rerun the same command to resume)."""
        from ..caption.stage import run_caption
        from ..ranks import resolve_ranks

        one = captioner is not None and len(captioner) == 1 and "=" not in captioner[0]
        flags = {"captioner": captioner[0] if one else None, "captioners": captioner if captioner and not one else None,
                 "model": model, "preset": preset, "batch_size": batch_size, "device": device, "dtype": dtype,
                 "instructions_file": str(instructions) if instructions is not None else None,
                 "styles": str(styles) if styles is not None else None, "captions_per_image": captions_per_image}
        cfg = opt.stage_config("caption", config_file, flags, overrides)
        run_caption(run, cfg, ranks=resolve_ranks(rank, world_size), progress=not no_progress,
                    echo=typer.echo)
