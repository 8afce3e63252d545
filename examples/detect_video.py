"""The digit detector on a video: MNIST test digits drifting over a picture it never saw.

    python examples/detect_video.py [--run examples/detect/run] [--frames 90]

Makes a clip (320 x 240, 15 frames/s) of 5 MNIST test digits, 20 to 44 pixels tall, moving
and bouncing over scikit-image's rocket photo in gray (no training canvas used that
picture), writes it with ``nnlab.data.video.VideoWriter``, then runs ``nnlab detect RUN
clip.mp4 --out clip_boxes.mp4`` on it, and saves four annotated frames side by side as a
PNG.  Everything goes into examples/detect/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from skimage.transform import resize

from nnlab.cli.main import main
from nnlab.data.datasets import load_mnist
from nnlab.data.video import VideoWriter, read_frames_array

OUT = Path(__file__).parent / "detect"
WIDTH, HEIGHT, FPS, DIGITS = 320, 240, 15, 5


def make_clip(path: Path, n_frames: int, seed: int = 0) -> None:
    import skimage.data
    from skimage.color import rgb2gray

    rng = np.random.default_rng(seed)
    background = rgb2gray(skimage.data.rocket())[:HEIGHT, 100 : 100 + WIDTH] * 0.6
    (_, _), (digits, _) = load_mnist(flatten=False, normalize=True)
    sprites = []
    for index in rng.choice(len(digits), DIGITS, replace=False):
        side = int(rng.integers(28, 62))  # the 28 x 28 frame; its ink is about 0.7 of it
        sprites.append(resize(digits[index, :, :, 0], (side, side), order=1, anti_aliasing=True))
    position = rng.uniform([0, 0], [WIDTH - 62, HEIGHT - 62], (DIGITS, 2))
    velocity = rng.uniform(-3, 3, (DIGITS, 2))
    with VideoWriter(path, FPS, (WIDTH, HEIGHT)) as writer:
        for _ in range(n_frames):
            frame = background.copy()
            for sprite, (x, y) in zip(sprites, position.astype(int), strict=True):
                region = frame[y : y + len(sprite), x : x + len(sprite)]
                region *= 1 - sprite
                region += sprite
            writer.write(np.repeat(np.round(frame * 255).astype(np.uint8)[:, :, None], 3, 2))
            position += velocity
            for axis, limit in ((0, WIDTH), (1, HEIGHT)):  # bounce off the edges
                sides = np.array([len(s) for s in sprites])
                out = (position[:, axis] < 0) | (position[:, axis] + sides > limit)
                velocity[out, axis] *= -1
                position[:, axis] = np.clip(position[:, axis], 0, limit - sides)


def frame_strip(path: Path, out: Path, picks=(0, 30, 60, 89)) -> None:
    from PIL import Image

    frames = read_frames_array(path)
    picks = [k for k in picks if k < len(frames)]
    Image.fromarray(np.concatenate([frames[k] for k in picks], axis=1)).save(out)


def main_(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=str(OUT / "run"), help="a detect run folder")
    parser.add_argument("--frames", type=int, default=90)
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    clip, boxes = OUT / "clip.mp4", OUT / "clip_boxes.mp4"
    make_clip(clip, args.frames)
    status = main(["detect", args.run, str(clip), "--out", str(boxes)])
    frame_strip(boxes, OUT / "video_frames.png")
    return status


if __name__ == "__main__":
    raise SystemExit(main_())
