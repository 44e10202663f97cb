"""`aptm-train finetune`: fine-tune an APTM model folder on retrieval shards (recipe finetune + EDA)."""
from __future__ import annotations

from typing import Annotated

import typer

from ..train import cli_options as o


def register(app: typer.Typer) -> None:
    @app.command()
    def finetune(
        shards: o.Shards,
        init: Annotated[str, typer.Option("--init", help="Model folder to start from (config.json + "
                                          "model.safetensors), e.g. PRETRAIN_RUN/best.")],
        out: o.Out, model_size: o.Size = None, config_file: o.ConfigFile = None,
        sets: o.Sets = None, resume: o.Resume = False, recipe: o.Recipe = None,
        max_steps: o.MaxSteps = None, epochs: o.Epochs = None, batch_size: o.BatchSize = None,
        workers: o.Workers = None, lr: o.Lr = None, grad_accum: o.GradAccum = None,
        clip_grad: o.ClipGrad = None, precision: o.Precision = None, seed: o.Seed = None,
        save_every: o.SaveEvery = None, keep_last: o.KeepLast = None, eval_every: o.EvalEvery = None,
        log_every: o.LogEvery = None, no_progress: o.NoProgress = False,
        threads: o.Threads = None, allow_config_change: o.AllowConfigChange = False,
    ) -> None:
        """Fine-tune: `aptm-train finetune --shards shards/cuhk --init RUN/best -o RUN2`."""
        flags = dict(locals())
        config_file, resume, sets = flags.pop("config_file"), flags.pop("resume"), flags.pop("sets")
        progress = not flags.pop("no_progress")
        run_opts = {"threads": flags.pop("threads"), "allow_config_change": flags.pop("allow_config_change")}
        o.run("finetune", config_file, resume, o.overrides(sets, **flags), progress=progress, **run_opts)
