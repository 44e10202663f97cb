"""`mals filter`: quality checks with a reason per rejected sample (see `stage.py` for the passes).

Modules: `checks` (pure measures and `(keep, reason)` decisions), `detectors` (HOG / transformers
person detectors and the person crop box), `clip_score` (open_clip image-caption score), `dedup`
(DCT pHash and a Hamming-distance index), `stage` (`FilterConfig`, `run_filter`).

Defaults follow the run (`plan.json` config `backend`):
* sketch runs need no weights: HOG person detector (its weights ship inside OpenCV), no CLIP score.
  Measured on 200 sketch renders (256x128, all attributes random; HogDetector at working height
  192, 20% replicated border, min score 1.0): exactly one person found in 93-97% (the rest are
  rejected as `no_person`), best-score median 2.9; pHash distance between different renders is at
  least 10 bits (median 30), so the default near-duplicate distance of 4 bits never merges two
  different renders.
* diffusion runs: HOG plus CLIP ViT-B-32 (`openai` weights). A model that cannot be loaded is one
  line naming `--clip-model none` / `--clip-pretrained FILE` / `--detector`.
"""
from .stage import FilterConfig, Thresholds, run_filter

__all__ = ["FilterConfig", "Thresholds", "run_filter"]
