"""Encode and store a part's images on a background thread while the backend draws the next batch.

PIL releases the GIL while encoding JPEG and torch releases it while the GPU works, so JPEG
encoding and tar writing overlap with generation instead of adding to it.
"""
from __future__ import annotations

import io
import queue
import tarfile
import threading
from collections.abc import Sequence
from pathlib import Path

from ..backends.base import SampleRequest, SampleResult
from ..tario import add_member

_STOP = object()


class PartImageWriter:
    """Write `KEY.jpg` members into one tar, in submission order; collect a manifest row per sample."""

    def __init__(self, tar_path: Path, image_path: str, backend: str, model: str, jpeg_quality: int,
                 max_pending: int = 4):
        # open for the life of the part and closed in close(): a `with` block cannot span the calls
        self._tar = tarfile.open(tar_path, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115
        self._meta = {"image_path": image_path, "backend": backend, "model": model}
        self._quality = jpeg_quality
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self.rows: list[dict] = []
        self._thread = threading.Thread(target=self._work, name="jpeg-writer", daemon=True)
        self._thread.start()

    def submit(self, requests: Sequence[SampleRequest], results: Sequence[SampleResult]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((list(requests), list(results)))

    def close(self) -> list[dict]:
        self._queue.put(_STOP)
        self._thread.join()
        self._tar.close()
        if self._error is not None:
            raise self._error
        return self.rows

    def _work(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            if self._error is not None:
                continue  # drain so the producer never blocks forever
            try:
                for request, result in zip(*item):
                    self.rows.append(self._store(request, result))
            except Exception as err:  # noqa: BLE001  (re-raised in the producer on its next call)
                self._error = err

    def _store(self, request: SampleRequest, result: SampleResult) -> dict:
        row = {"key": request.key, **self._meta, "image_member": None, "width": None, "height": None,
               "image_bytes": None, "status": "failed", "error": result.error or "no image"}
        if result.image is None:
            return row
        buf = io.BytesIO()
        result.image.convert("RGB").save(buf, format="JPEG", quality=self._quality)
        member = f"{request.key}.jpg"
        add_member(self._tar, member, buf.getvalue())
        row.update(image_member=member, width=result.image.width, height=result.image.height,
                   image_bytes=buf.tell(), status="ok", error="",
                   known_box=list(result.box) if result.box is not None else None,
                   known_attrs=result.attrs.tolist() if result.attrs is not None else None)
        return row
