"""`aptm-train eval` as a function: load the checkpoint, read the split once, evaluate, write the outputs.

Retrieval (`task="retrieval"`) or attribute recognition (`task="attributes"`). Run it in one
process, or in N under `torchrun` / `accelerate launch` (gloo on CPU, NCCL on GPUs): batches are
dealt across processes, everything is gathered, and the main process fuses, scores and writes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from mals_gen.errors import UserError

from . import ITC_WEIGHT

TASKS = ("retrieval", "attributes")


@dataclass(frozen=True)
class EvalConfig:
    checkpoint: str
    shards: str
    split: str = "test"
    task: str = "retrieval"
    modes: tuple[str, ...] = ("fused",)     # orderings: aptm_train.eval.retrieval.MODES
    emulated_gpus: int = 4                  # processes the `fused-per-gpu` ordering emulates
    itc_weight: float = ITC_WEIGHT          # w in `fused` = ITM_norm + w * ITC_norm
    attributes: str = "auto"                # auto | pa100k | mals
    k: int = 128
    batch_size: int = 64
    query_chunk: int = 32
    pair_batch: int = 512
    device: str = "auto"
    precision: str = "fp32"                 # fp32 | bf16 | fp16
    norm: str = "auto"                      # image mean/std: auto (the split's source) | mals | cuhk-pedes ...
    out: str | None = None                  # folder for metrics.json, rankings.parquet, report.html
    rankings: bool = False
    html: bool = False
    html_samples: int = 24
    progress: bool = True


def pick_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device here; use --device cpu")
    return torch.device(name)


def build_encoder(checkpoint: str | Path, *, device: str = "auto", precision: str = "fp32", batch_size: int = 64,
                  norm: str = "mals", progress: bool = True):
    """Load a checkpoint folder into an eval-mode `Encoder` (test-time transform of the model's size)."""
    from ..data.shards import NORM_STATS
    from ..data.transforms import test_transform
    from ..model.checkpoint import load_model, load_tokenizer
    from .dist import init_dist
    from .encode import PRECISION_ALIASES, PRECISIONS, Encoder

    precision = PRECISION_ALIASES.get(precision, precision)
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if norm not in NORM_STATS:
        raise UserError(f"--norm {norm!r}: choose auto or one of {', '.join(NORM_STATS)}")
    dev = pick_device(device)
    dist = init_dist(dev)
    model = load_model(checkpoint, map_location=dev).eval()
    cfg = model.config
    return Encoder(model, load_tokenizer(checkpoint, cfg), test_transform(tuple(cfg.vision.img_size), norm), dev, dist,
                   batch_size=batch_size, max_len=cfg.text.max_len, precision=precision, progress=progress)


def checkpoint_folder(path: str | Path) -> Path:
    """A model folder, or a training run (RUN/best, else RUN/model) or checkpoint step folder."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    # a training run: the model chosen on val R@1 (best/), else the final export (model/)
    for cand in (path / "best", path / "model"):
        if (cand / "config.json").is_file():
            return cand
    raise UserError(f"--checkpoint {path}: no config.json there (nor in best/ or model/); pass a model "
                    "folder written by aptm-train (config.json + model.safetensors) or a training run")


def run_eval(cfg: EvalConfig, echo=print) -> dict | None:
    """Evaluate; returns the JSON payload on the main process (None on the others)."""
    from ..data.shards import norm_name, open_shards, require_split
    from .dist import close_dist
    from .encode import read_and_encode_split

    if cfg.task not in TASKS:
        raise UserError(f"--task {cfg.task!r}: choose one of {', '.join(TASKS)}")
    shards = open_shards(cfg.shards)
    require_split(shards, cfg.split, f"eval --task {cfg.task}")
    norm = norm_name(shards.dominant_source(cfg.split)) if cfg.norm == "auto" else cfg.norm
    enc = build_encoder(checkpoint_folder(cfg.checkpoint), device=cfg.device, precision=cfg.precision,
                        batch_size=cfg.batch_size, norm=norm, progress=cfg.progress)
    try:
        want_html = cfg.html and cfg.task == "retrieval" and enc.dist.is_main
        data, images = read_and_encode_split(enc, shards, cfg.split, thumbnails=want_html)
        payload = {"config": asdict(cfg), "norm": norm, "world_size": enc.dist.world,
                   "images": len(data.keys), "queries": len(data.captions)} | _skipped(data, cfg, echo)
        if cfg.task == "retrieval":
            payload |= _retrieval(enc, cfg, data, images, echo)
        else:
            payload |= _attributes(enc, cfg, data, images, echo)
        if enc.dist.is_main and cfg.out:
            from .report import write_json

            path = write_json(Path(cfg.out) / f"{cfg.task}_metrics.json", payload)
            echo(f"wrote {path}")
            from .report import update_card

            if card := update_card(checkpoint_folder(cfg.checkpoint), cfg.shards, cfg.split, payload, echo):
                echo(f"updated {card}")
        enc.dist.barrier()
        return payload if enc.dist.is_main else None
    finally:
        close_dist(enc.dist)


def _skipped(data, cfg: EvalConfig, echo) -> dict:
    """Say (and record) the unreadable samples left out of the gallery and the queries dropped with them."""
    if not data.skipped:
        return {}
    echo(f"eval: skipped {len(data.skipped)} unreadable input(s) of the {cfg.split} split (warned above, listed "
         f"in the metrics JSON): their images are left out of the gallery and their {data.dropped_queries} "
         "query(ies) dropped (a query without its true image cannot be scored)")
    return {"skipped_images": len(data.skipped), "dropped_queries": data.dropped_queries,
            "skipped": [{"file": f, "key": k, "reason": r} for f, k, r in data.skipped]}


def _retrieval(enc, cfg: EvalConfig, data, images, echo) -> dict:
    from .report import retrieval_table, write_html, write_rankings
    from .retrieval import RetrievalSettings, evaluate_retrieval

    if not data.captions:
        raise UserError(f"{cfg.shards}: the {cfg.split} split has no captions, so no queries; "
                        "retrieval needs KEY.json 'captions'")
    settings = RetrievalSettings(k=cfg.k, query_chunk=cfg.query_chunk, pair_batch=cfg.pair_batch,
                                 modes=tuple(cfg.modes), emulated_gpus=cfg.emulated_gpus,
                                 itc_weight=cfg.itc_weight)
    result = evaluate_retrieval(enc, data, images, settings)
    if result is None:
        return {}
    echo(retrieval_table(result))
    agreement = _agreement(data, result, echo)
    headline = "fused" if "fused" in result.metrics else next(iter(result.metrics))
    if cfg.out:
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        if cfg.rankings:
            for mode in result.ranks:
                echo(f"wrote {write_rankings(out / f'rankings_{mode}.parquet', data, result, mode)}")
        if cfg.html:
            echo(f"wrote {write_html(out / 'retrieval.html', data, result, headline, samples=cfg.html_samples)}")
    return {"retrieval": result.metrics, "chance": result.chance, "headline": headline,
            "gallery": result.gallery} | agreement


def _agreement(data, result, echo) -> dict:
    """The attribute agreement of each ordering's top 5 (`agreement.py`), where the split has mined attributes."""
    from .agreement import TOP_K, agreement_table, chance_agreement, top_agreement

    if data.attrs is None or not result.ranks or min(r.top.shape[1] for r in result.ranks.values()) < TOP_K:
        return {}
    by_mode = {mode: top_agreement(data.attrs, data.query_image, r.top) for mode, r in result.ranks.items()}
    chance = chance_agreement(data.attrs, data.query_image)
    echo(agreement_table(by_mode, chance))
    return {"attribute_agreement": {"k": TOP_K, "orderings": by_mode, "chance": chance}}


def _attributes(enc, cfg: EvalConfig, data, images, echo) -> dict:
    from .attributes import evaluate_attributes
    from .report import attribute_table

    results = evaluate_attributes(enc, data, images, cfg.attributes, pair_batch=cfg.pair_batch)
    if results is None:
        return {}
    for name, metrics in results.items():
        echo(attribute_table(name, metrics))
    return {"attributes": results}
