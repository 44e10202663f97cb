"""`TransformersDetector` on a tiny random YOLOS saved to a folder: the real model class, loaded the
way a user's local detector folder is, with the person class found in `config.id2label`."""
from __future__ import annotations

import numpy as np
import pytest

from mals_gen.errors import UserError
from mals_gen.filter.detectors import TransformersDetector, build_detector


def tiny_yolos(folder, id2label, favour=None):
    """A 2-layer, 32-wide YOLOS and its image processor, saved like a hub snapshot. A random head
    scores every class alike, so `favour` (a class id) gets a bias that makes it win."""
    import torch
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessor

    torch.manual_seed(0)
    cfg = YolosConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                      image_size=[64, 48], patch_size=16, num_detection_tokens=6, id2label=id2label,
                      label2id={v: k for k, v in id2label.items()})
    model = YolosForObjectDetection(cfg).eval()
    if favour is not None:
        with torch.no_grad():
            model.class_labels_classifier.layers[-1].bias[favour] += 3.0
    model.save_pretrained(folder)
    YolosImageProcessor(size={"shortest_edge": 48, "longest_edge": 64}).save_pretrained(folder)
    return folder


def test_folder_detector_keeps_person_boxes_inside_the_image(tmp_path):
    folder = tiny_yolos(tmp_path / "yolos", {0: "N/A", 1: "person", 2: "car"}, favour=1)
    det = build_detector(str(folder))
    assert isinstance(det, TransformersDetector) and det.person_id == 1
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (90, 40, 3), dtype=np.uint8), rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)]
    per_image = det.detect_many(images)
    assert len(per_image) == 2
    assert all(len(d) > 0 for d in per_image)
    for dets, im in zip(per_image, images):
        h, w = im.shape[:2]
        for (x0, y0, x1, y1), score in dets:
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and 0.0 < score <= 1.0
    # alone, the image is not padded to its batch-mate's size: the same boxes to within a pixel
    alone = det.detect(images[0])
    assert len(alone) == len(per_image[0])
    assert np.allclose([b for b, _ in alone], [b for b, _ in per_image[0]], atol=1.0)
    # the same model favouring "car": every box is dropped, none reported as a person
    cars = TransformersDetector(str(tiny_yolos(tmp_path / "cars", {0: "N/A", 1: "person", 2: "car"}, favour=2)))
    assert cars.detect_many(images) == [[], []]


def test_detector_without_a_person_class_is_refused(tmp_path):
    folder = tiny_yolos(tmp_path / "vehicles", {0: "car", 1: "truck"})
    with pytest.raises(UserError, match="no 'person' class"):
        TransformersDetector(str(folder))


def test_missing_detector_folder_names_the_fix(tmp_path):
    with pytest.raises(UserError, match="--detector hog"):
        TransformersDetector(str(tmp_path / "nowhere"))
