"""`aptm-train eval --checkpoint DIR --shards shards/NAME [--split test] [--task retrieval|attributes]`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mals_gen.errors import UserError

from ..eval import ITC_WEIGHT
from ..train import cli_options as o

# Kept here as text so that --help needs no torch import; tests check it against retrieval.MODES.
MODE_HELP = ("retrieval ordering(s), comma-separated, or all: fused (default; ITM + --itc-weight x ITC, "
             "each normalised once over the whole matrix) | itc | itm | itm-paper (the paper-era official "
             "code: ITM, the rest of the gallery at -1000) | fused-per-gpu (the later official fusion, "
             "normalised per GPU and summed, as on --emulated-gpus GPUs; for published numbers)")


def parse_modes(text: str) -> tuple[str, ...]:
    """'--mode' text -> orderings in MODES order: 'all', or names separated by commas."""
    from aptm_train.eval.retrieval import MODES

    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return MODES
    bad = [n for n in names if n not in MODES]
    if bad or not names:
        raise UserError(f"--mode {text!r}: choose all or one or more of {', '.join(MODES)} (comma-separated)")
    return tuple(m for m in MODES if m in names)


def eval_command(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="model folder (config.json + "
                                             "model.safetensors) or a training run (uses RUN/best)")],
    shards: Annotated[Path, typer.Option("--shards", help="shard folder (tars + manifest.parquet)")],
    split: Annotated[str, typer.Option("--split", help="split to evaluate")] = "test",
    task: Annotated[str, typer.Option("--task", help="retrieval | attributes")] = "retrieval",
    mode: Annotated[str, typer.Option("--mode", help=MODE_HELP)] = "fused",
    emulated_gpus: Annotated[int, typer.Option("--emulated-gpus", help="GPUs that the fused-per-gpu ordering "
                                               "emulates (the paper's runs used 4)")] = 4,
    itc_weight: o.ItcWeight = ITC_WEIGHT,
    attributes: Annotated[str, typer.Option("--attributes", help="attribute set: auto | pa100k | mals")] = "auto",
    k: Annotated[int, typer.Option("--k", help="ITC candidates re-ranked by ITM per query")] = 128,
    batch_size: Annotated[int, typer.Option("--batch-size", help="images / texts per encoder call")] = 64,
    query_chunk: Annotated[int, typer.Option("--query-chunk", help="queries re-ranked together")] = 32,
    pair_batch: Annotated[int, typer.Option("--pair-batch", help="(text, image) pairs per fusion call")] = 512,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="fp32 (or no) | bf16 | fp16")] = "fp32",
    norm: Annotated[str, typer.Option("--norm", help="image mean/std: auto (the split's source) | mals | "
                                      "cuhk-pedes | icfg-pedes | rstpreid | pa100k")] = "auto",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="folder for the JSON metrics, rankings, HTML")] = None,
    rankings: Annotated[bool, typer.Option("--rankings", help="write per-query rankings (parquet) to --out")] = False,
    html: Annotated[bool, typer.Option("--html", help="write an HTML page of sampled queries to --out")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="hide progress bars")] = False,
    threads: o.Threads = None,
) -> None:
    """Evaluate a checkpoint: text-to-image retrieval (R@1/5/10, mAP, mINP) or attribute recognition (mA...).

    Several processes: `torchrun --nproc_per_node N -m aptm_train eval ...` (same numbers as one).
    """
    from aptm_train.eval.run import EvalConfig, run_eval
    from aptm_train.threads import set_threads

    set_threads(threads)
    modes = parse_modes(mode)
    if (rankings or html) and out is None:
        raise UserError("--rankings / --html write files: add --out FOLDER")
    for name, value in (("--k", k), ("--batch-size", batch_size), ("--query-chunk", query_chunk),
                        ("--pair-batch", pair_batch), ("--emulated-gpus", emulated_gpus)):
        if value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
    if itc_weight < 0:
        raise UserError(f"--itc-weight must be 0 or more, got {itc_weight}")
    cfg = EvalConfig(checkpoint=str(checkpoint), shards=str(shards), split=split, task=task,
                     modes=modes, emulated_gpus=emulated_gpus, itc_weight=itc_weight, attributes=attributes, k=k,
                     batch_size=batch_size, query_chunk=query_chunk, pair_batch=pair_batch, device=device,
                     precision=precision, norm=norm, out=str(out) if out else None, rankings=rankings,
                     html=html, progress=not no_progress)
    run_eval(cfg, echo=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
