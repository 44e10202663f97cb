"""ITC across two gloo processes equals the single-process loss and gradient on the same global batch."""
from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from aptm_train.losses import itc_loss

B, D_IN, D = 3, 6, 4
IDS = torch.tensor([0, 1, 2, 1, 4, 0])          # shared ids across the two processes' halves


def _setup():
    torch.manual_seed(0)
    enc_i, enc_t = torch.nn.Linear(D_IN, D), torch.nn.Linear(D_IN, D)
    x_img, x_txt = torch.randn(2 * B, D_IN), torch.randn(2 * B, D_IN)
    return enc_i, enc_t, x_img, x_txt


def _loss(enc_i, enc_t, x_img, x_txt, ids, gather):
    img, txt = F.normalize(enc_i(x_img), dim=-1), F.normalize(enc_t(x_txt), dim=-1)
    return itc_loss(img, txt, torch.tensor(10.0), ids, gather=gather)


def _worker(rank: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        enc_i, enc_t, x_img, x_txt = _setup()
        part = slice(rank * B, (rank + 1) * B)
        loss = _loss(enc_i, enc_t, x_img[part], x_txt[part], IDS[part], gather=True)
        loss.backward()
        grads = []
        for p in [*enc_i.parameters(), *enc_t.parameters()]:
            dist.all_reduce(p.grad)               # what DDP does: average the gradients
            grads.append(p.grad / 2)
        # numpy arrays travel by value; a tensor would travel as a shared-memory handle that the
        # parent cannot open once this process has exited (a race seen in CI)
        queue.put((rank, loss.item(), [g.numpy().copy() for g in grads]))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gathered_itc_and_gradients_equal_single_process():
    enc_i, enc_t, x_img, x_txt = _setup()
    ref = _loss(enc_i, enc_t, x_img, x_txt, IDS, gather=False)
    ref.backward()
    ref_grads = [p.grad for p in [*enc_i.parameters(), *enc_t.parameters()]]

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in range(2)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for _, loss, grads in results:
        assert abs(loss - ref.item()) < 1e-5
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(torch.from_numpy(g), r, atol=1e-6, rtol=1e-5)
