"""nnlab faces: find faces in a picture or a video with MTCNN (Course 4, week 4).

    nnlab faces detect photo.jpg                      # each face: box, confidence, landmarks
    nnlab faces detect photo.jpg --out faces.png      # the picture with boxes and landmarks
    nnlab faces detect clip.mp4 --out faces.mp4       # every frame, annotated; a summary
    nnlab faces detect clip.mp4 --max-frames 20 --min-face-size 40 --threshold 0.95

The detector is :class:`nnlab.applications.mtcnn.MTCNN` with the real weights of
``mtcnn==1.0.0`` (``pip install --no-deps mtcnn==1.0.0``; converted once into nnlab's
cache).  ``--threshold`` is the confidence a face must exceed (O-Net's, 0.8 by default);
``--stage-thresholds P R O`` sets the three stages' at once (0.6 0.7 0.8).

A picture (PNG, JPEG, or anything else Pillow reads; grayscale and RGBA become RGB, a
photo's EXIF rotation is applied) prints one line per face: its box [x, y, w, h],
confidence and five landmarks.  Any other file is read as a video (ffmpeg, through
``imageio-ffmpeg``), frame by frame with a progress bar; the command prints the number of
frames, how many have at least one face, and the frames per second of the detection loop
(reading, MTCNN, drawing and writing) and of MTCNN alone, on the CPU named.  With
``--out`` the annotated picture (PNG / JPEG, by its suffix) or video (H.264 .mp4, .mkv,
.mov) is written; a video appears only once complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..applications.mtcnn import LANDMARKS, MTCNN
from ..data.annotate import draw_boxes, draw_points
from ..data.video import VideoWriter, video_info
from ..exceptions import ConfigError, InputValueError
from ..ops.parallel import cpu_name, num_threads
from .media import picture_format, read_image, run_on_video, write_image
from .parser import action_parsers, command_parser

BOX_COLOR = (255, 0, 0)
#: The landmarks' colours, in :data:`LANDMARKS` order: eyes, nose, mouth corners.
LANDMARK_COLORS = ((0, 255, 0), (0, 255, 0), (255, 255, 0), (0, 200, 255), (0, 200, 255))


def add_command(subparsers) -> argparse.ArgumentParser:
    """Register ``nnlab faces detect``."""
    parser = command_parser(
        subparsers, "faces", "find faces in a picture or a video (MTCNN)", __doc__
    )
    actions = action_parsers(parser, "detect (faces in a picture or a video)")
    detect = actions.add_parser(
        "detect", help="faces in a picture or a video", description=__doc__.split("\n\n")[0]
    )
    detect.add_argument("input", metavar="IMAGE_OR_VIDEO", help="a picture or a video file")
    detect.add_argument(
        "--out", help="write the picture or video with the faces drawn (boxes and landmarks)"
    )
    detect.add_argument(
        "--min-face-size",
        type=float,
        default=20,
        metavar="PIXELS",
        help="the smallest face looked for (default: 20)",
    )
    detect.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="the confidence a face must exceed, O-Net's threshold (default: 0.8)",
    )
    detect.add_argument(
        "--stage-thresholds",
        type=float,
        nargs=3,
        metavar=("P", "R", "O"),
        help="P-Net's, R-Net's and O-Net's thresholds at once (default: 0.6 0.7 0.8)",
    )
    detect.add_argument(
        "--max-frames", type=int, metavar="N", help="a video's first N frames only (default: all)"
    )
    detect.set_defaults(handler=cmd_detect)
    return parser


def cmd_detect(args) -> int:
    path = Path(args.input)
    if not path.exists():
        raise InputValueError(f"faces detect: {str(path)!r} does not exist")
    if not path.is_file():
        raise InputValueError(f"faces detect: {str(path)!r} is not a file")
    if args.max_frames is not None and args.max_frames < 1:
        raise ConfigError(f"faces detect: --max-frames must be >= 1, got {args.max_frames}")
    # the input and --out are checked before the weights load
    image = read_image(path)
    if image is not None:
        if args.out:
            picture_format(args.out)
        return detect_image(_detector(args), path, image, args.out)
    info = video_info(path)
    writer = (
        VideoWriter(args.out, info.fps or 25.0, (info.width, info.height)) if args.out else None
    )
    return detect_video(_detector(args), path, info, writer, args.max_frames)


def _detector(args) -> MTCNN:
    return MTCNN(min_face_size=args.min_face_size, thresholds=_thresholds(args))


def _thresholds(args) -> tuple[float, float, float]:
    """MTCNN's three thresholds: --stage-thresholds, O-Net's replaced by --threshold."""
    p, r, o = args.stage_thresholds or (0.6, 0.7, 0.8)
    return p, r, o if args.threshold is None else args.threshold  # MTCNN checks them


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def annotate(image: np.ndarray, boxes: np.ndarray, scores, points: np.ndarray) -> np.ndarray:
    """``image`` with faces drawn: ``boxes`` (k, 4) corners (one past the last pixel)
    labelled with their ``scores``, and ``points`` (k, 5, 2), the landmarks; line widths
    and dot sizes scale with the image."""
    if not len(boxes):
        return image
    side = min(image.shape[:2])
    width, radius = max(1, round(side / 200)), max(1, round(side / 150))
    out = draw_boxes(image, boxes, scores=scores, color=BOX_COLOR, width=width)
    return draw_points(out, points, color=LANDMARK_COLORS, radius=radius)


def annotate_rows(image: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """:func:`annotate` for rows of :data:`~nnlab.applications.mtcnn.COLUMNS`."""
    # MTCNN's x2, y2 are the last pixel's position; draw_boxes takes one past it
    boxes = rows[:, 1:5] + np.array([0.0, 0.0, 1.0, 1.0])
    points = rows[:, 6:16].reshape(-1, 2, len(LANDMARKS)).transpose(0, 2, 1)  # (k, 5, 2) x, y
    return annotate(image, boxes, rows[:, 5], points)


def detect_image(detector: MTCNN, path: Path, image: np.ndarray, out) -> int:
    faces = detector.detect_faces(image)
    height, width = image.shape[:2]
    count = _count(len(faces), "face") if faces else "no face"
    print(f"{path.name} ({width}x{height}): {count}")
    for k, face in enumerate(faces, 1):
        x, y, w, h = face["box"]
        points = "  ".join(f"{name} {tuple(xy)}" for name, xy in face["keypoints"].items())
        print(f"  {k}. box [x {x}, y {y}, w {w}, h {h}]  confidence {face['confidence']:.4f}")
        print(f"     {points}")
    if out:
        xywh = np.array([f["box"] for f in faces], dtype=np.float64).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:] + 1], axis=1)  # corners
        points = np.array([[f["keypoints"][name] for name in LANDMARKS] for f in faces])
        scores = [f["confidence"] for f in faces]
        write_image(out, annotate(image, boxes, scores, points.reshape(-1, len(LANDMARKS), 2)))
        print(f"wrote {out} (boxes and landmarks)")
    return 0


# -------------------------------------------------------------------------- videos
def detect_video(detector: MTCNN, path: Path, info, writer, max_frames) -> int:
    """MTCNN on each frame of the video ``path`` (:class:`VideoInfo` ``info``), the
    annotated frames written to ``writer`` (a :class:`VideoWriter` or None); prints the
    counts and speeds."""
    total = info.n_frames
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    run = run_on_video(path, total, writer, max_frames, detector.detect, annotate_rows)
    frames, loop, detecting = run["frames"], run["seconds"], run["find_seconds"]
    with_face = sum(bool(len(rows)) for rows in run["found"])
    faces = sum(len(rows) for rows in run["found"])
    print(
        f"{path.name} ({info.width}x{info.height}, {info.fps:g} fps): {_count(frames, 'frame')}, "
        f"{with_face} with a face ({with_face / frames:.1%}), {_count(faces, 'face')} in all"
    )
    threads = num_threads()
    print(
        f"detection loop: {frames / max(loop, 1e-9):.1f} frames/s (reading, MTCNN"
        f"{', drawing, writing' if writer else ''}); MTCNN alone "
        f"{frames / max(detecting, 1e-9):.1f} frames/s; {cpu_name()}, {_count(threads, 'thread')}"
    )
    if writer is not None:
        print(f"wrote {writer.path} ({_count(frames, 'frame')}, boxes and landmarks)")
    return 0
