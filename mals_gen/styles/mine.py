"""`mals styles`: cluster human descriptions by style and write a style file.

Steps: blank the attribute words (`blank.py`), embed the templates with a sentence encoder, k-means
(scikit-learn) into k style clusters (clusters whose prototypes write one shape are merged), then
per cluster pick representatives by uniform prototype sampling: the template nearest the centroid
is the style's prototype, and the 2-3 example sentences are drawn at evenly spaced ranks of distance to the centroid (nearest, middle, farthest
in-cluster quartile), so examples cover the cluster instead of repeating its densest point.
Caption requests later draw styles uniformly over clusters (`draw_style`), not by cluster size,
so rare annotator styles are asked for as often as common ones.
"""
from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fsutil import atomic_path
from .blank import blank_attributes

STYLE_FILE_VERSION = 1
N_EXAMPLES = 3


@dataclass(frozen=True)
class Style:
    id: int
    template: str                 # the blanked prototype sentence
    examples: tuple[str, ...]     # 2-3 original sentences of the cluster
    size: int                     # descriptions in the cluster


def _examples(order: np.ndarray, texts: Sequence[str]) -> tuple[str, ...]:
    """Up to N_EXAMPLES distinct texts at evenly spaced distance ranks (order: nearest first)."""
    picks = np.linspace(0, max(len(order) - 1, 0) * 0.75, num=min(N_EXAMPLES, len(order))).round().astype(int)
    seen: list[str] = []
    for i in picks:
        if texts[order[i]] not in seen:
            seen.append(texts[order[i]])
    return tuple(seen)


def cluster_styles(texts: Sequence[str], vectors: np.ndarray, k: int, seed: int = 0) -> list[Style]:
    """k-means over the template vectors (N, D); one Style per non-empty cluster, largest first."""
    from sklearn.cluster import KMeans

    if len(texts) == 0:
        raise UserError("no descriptions to mine styles from; check --from and --column")
    k = min(k, len(texts))
    km = KMeans(n_clusters=k, random_state=seed, n_init=3).fit(vectors)
    templates = [blank_attributes(t) for t in texts]
    dist = np.linalg.norm(vectors - km.cluster_centers_[km.labels_], axis=1)  # (N,)
    styles = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        if members.size == 0:
            continue
        order = members[np.argsort(dist[members], kind="stable")]
        styles.append((members.size, order))
    styles.sort(key=lambda s: (-s[0], int(s[1][0])))
    return _merge_shapes([Style(i, templates[order[0]], _examples(order, texts), int(size))
                          for i, (size, order) in enumerate(styles)])


def _merge_shapes(styles: list[Style]) -> list[Style]:
    """Clusters whose prototypes write one sentence shape (`template.shape`: "a [person] wearing a
    [colour] [upper]" and "a young [person] wearing a [upper]") are one style: the larger keeps its
    prototype and takes the other's size and examples. Uniform draws over styles would otherwise
    ask for that shape twice as often."""
    from .template import shape

    merged: dict[str, Style] = {}
    for s in styles:
        key = shape(s.template)
        if key in merged:
            first = merged[key]
            examples = tuple(dict.fromkeys(first.examples + s.examples))[:2 * N_EXAMPLES]
            merged[key] = Style(first.id, first.template, examples, first.size + s.size)
        else:
            merged[key] = s
    return [Style(i, s.template, s.examples, s.size) for i, s in enumerate(merged.values())]


def mine_styles(texts: Sequence[str], k: int = 1000, seed: int = 0, encoder=None,
                progress: bool = False) -> list[Style]:
    """Blank, embed, cluster: the styles of a corpus of human descriptions."""
    from ..text_encoder import SentenceEncoder

    texts = [t.strip() for t in texts if t and t.strip()]
    encoder = encoder or SentenceEncoder()
    vectors = encoder.encode([blank_attributes(t) for t in texts], progress=progress)
    return cluster_styles(texts, vectors, k, seed)


def write_styles(styles: Sequence[Style], path: str | Path, source: dict | None = None) -> Path:
    """The style file: JSON with a header and one object per style (atomic write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": STYLE_FILE_VERSION, "source": source or {}, "styles": [asdict(s) for s in styles]}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def read_styles(path: str | Path) -> list[Style]:
    """The styles of a file written by `write_styles`; a wrong file is one error line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"style file {path} does not exist; make one with `mals styles --from CAPTIONS --out {path}`")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        styles = [Style(int(s["id"]), str(s["template"]), tuple(s["examples"]), int(s["size"]))
                  for s in doc["styles"]]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path} is not a style file ({type(err).__name__}: {err}); "
                        "rebuild it with `mals styles`") from None
    if not styles:
        raise UserError(f"style file {path} holds no style; rebuild it with `mals styles`")
    return styles


def draw_style(styles: Sequence[Style], seed: int) -> Style:
    """The style of one caption request: uniform over styles, a pure function of the seed."""
    return styles[random.Random(seed ^ 0x57_11E5).randrange(len(styles))]


def style_templates(style: Style) -> tuple[str, ...]:
    """The sentence shapes of a style: its prototype and its blanked examples, without repeats."""
    return tuple(dict.fromkeys([style.template, *(blank_attributes(e) for e in style.examples)]))


def draw_template(templates: Sequence[str], seed: int) -> str:
    """One of a style's templates for a caption request (a pure function of the seed, independent
    of the style draw), so a style's examples are written as often as its prototype."""
    return templates[random.Random(seed ^ 0x7E_3A1E).randrange(len(templates))]


def style_instruction(style: Style) -> str:
    """The instruction that asks a captioner to describe the person in `style`."""
    examples = " ".join(f'"{e}"' for e in style.examples[:2])
    return ("Describe the person's appearance (gender, age, hair, clothes and their colours, bags) in one "
            f"or two sentences, following this sentence pattern: \"{style.template}\" "
            f"(slots in brackets are filled with what you see). Examples of the style: {examples}")
