"""ITC across 2 and 4 gloo processes: the same loss as one process on the global batch; the feature
gradient is the single-process one ("global") or 1/W of it ("local", the original's), and the
temperature gets the full gradient either way."""
from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from aptm_train.losses import itc_loss

B, D_IN, D = 3, 6, 4
IDS = torch.tensor([0, 1, 2, 1, 4, 0, 5, 6, 2, 7, 8, 5])   # ids shared across the processes' slices


def _setup(world: int):
    torch.manual_seed(0)
    enc_i, enc_t = torch.nn.Linear(D_IN, D), torch.nn.Linear(D_IN, D)
    temp = torch.nn.Parameter(torch.tensor(0.1))
    x_img, x_txt = torch.randn(world * B, D_IN), torch.randn(world * B, D_IN)
    return [*enc_i.parameters(), *enc_t.parameters()], temp, (enc_i, enc_t, x_img, x_txt)


def _loss(enc_i, enc_t, x_img, x_txt, temp, ids, gather, gradient="global"):
    img, txt = F.normalize(enc_i(x_img), dim=-1), F.normalize(enc_t(x_txt), dim=-1)
    return itc_loss(img, txt, 1.0 / temp, ids, gather=gather, gradient=gradient)


def _worker(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        out = {}
        for gradient in ("global", "local"):
            params, temp, (enc_i, enc_t, x_img, x_txt) = _setup(world)
            part = slice(rank * B, (rank + 1) * B)
            loss = _loss(enc_i, enc_t, x_img[part], x_txt[part], temp, IDS[part], True, gradient)
            loss.backward()
            grads = []
            for p in [*params, temp]:
                dist.all_reduce(p.grad)           # what DDP does: average the gradients
                grads.append((p.grad / world).numpy().copy())
            out[gradient] = (loss.item(), grads)
        # numpy arrays travel by value; a tensor would travel as a shared-memory handle that the
        # parent cannot open once this process has exited (a race seen in CI)
        queue.put((rank, out))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(world: int) -> list[dict]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, queue)) for r in range(world)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=180) for _ in range(world)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return [out for _, out in results]


@pytest.mark.parametrize("world", [2, 4])
def test_itc_gradient_global_and_local_across_processes(world):
    params, temp, (enc_i, enc_t, x_img, x_txt) = _setup(world)
    ref = _loss(enc_i, enc_t, x_img, x_txt, temp, IDS[:world * B], gather=False)
    ref.backward()
    ref_grads = [p.grad.numpy() for p in params]
    for out in _run(world):
        for gradient, ratio in (("global", 1.0), ("local", 1.0 / world)):
            loss, grads = out[gradient]
            assert abs(loss - ref.item()) < 1e-5                  # the loss value never changes
            for g, r in zip(grads[:-1], ref_grads):
                np.testing.assert_allclose(g, ratio * r, atol=1e-6, rtol=1e-5)
            np.testing.assert_allclose(grads[-1], temp.grad.numpy(), atol=1e-6, rtol=1e-5)  # temp: full
        # the measured ratio itself, on the largest weight gradient: 1.0 / 0.5 / 0.25
        big = int(np.abs(ref_grads[0]).argmax())
        assert out["local"][1][0].flat[big] / ref_grads[0].flat[big] == pytest.approx(1.0 / world, rel=1e-4)
