"""nnlab faces: find faces in a picture or a video with MTCNN, tell whether two pictures
show one person, and who is in a photo (Course 4, week 4).

    nnlab faces detect photo.jpg                      # each face: box, confidence, landmarks
    nnlab faces detect photo.jpg --out faces.png      # the picture with boxes and landmarks
    nnlab faces detect clip.mp4 --out faces.mp4       # every frame, annotated; a summary
    nnlab faces detect clip.mp4 --max-frames 20 --min-face-size 40 --threshold 0.95
    nnlab faces verify a.jpg b.jpg                    # the distance; same person or not
    nnlab faces identify photo.jpg --db people/       # each face: who, or not in the database
    nnlab faces identify photo.jpg --db people/ --out named.png --threshold 0.5

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

``verify`` and ``identify`` describe each face by dlib's face recognition ResNet
(:mod:`nnlab.applications.face_descriptor`; face-api's port of its weights, fetched once
with ``npm pack``) on a 150x150 chip aligned from MTCNN's landmarks
(:mod:`nnlab.applications.face_alignment`).  Two faces whose descriptors lie nearer than
``--threshold`` (dlib's 0.6) are one person.  ``verify`` compares the most confident face
of each picture.  ``identify`` compares every face of the photo with a database folder:
one subfolder per person (``people/alice/*.jpg``), or pictures named by person
(``people/alice.jpg``, ``people/alice_2.jpg``, ``people/bob-1.png``: the name is the file
name without a trailing number); each picture should show that person (the largest face
is taken).  The descriptors are kept beside the folder (``people.faces.safetensors``) and
recomputed only for pictures added or changed since.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import warnings
from pathlib import Path

import numpy as np
from safetensors.numpy import save as st_save

from ..applications.face import identify, verify
from ..applications.face_alignment import CHIP_SIZE, MTCNN_TEMPLATE, MTCNN_WEIGHTS, PADDING
from ..applications.face_descriptor import (
    DESCRIPTOR_SIZE,
    MODEL_ID,
    NPM_VERSION,
    SAME_PERSON_THRESHOLD,
    FaceEncoder,
)
from ..applications.mtcnn import LANDMARKS, MTCNN
from ..data.annotate import draw_boxes, draw_points
from ..data.video import VideoWriter, video_info
from ..exceptions import ConfigError, InputValueError, ModelFileError
from ..ops.parallel import cpu_name, num_threads
from ..saving.container import (
    atomic_write_bytes,
    file_digest,
    read_safetensors,
    sorted_header,
    verify_digest,
)
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
    actions = action_parsers(
        parser,
        "detect (faces in a picture or a video), verify (two pictures: one person?), "
        "identify (who is in a photo, from a folder of people's pictures)",
    )
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

    verify = actions.add_parser(
        "verify",
        help="do two pictures show one person? (dlib's face descriptors)",
        description="The distance between the descriptors of the most confident face of "
        "each picture, and whether it is under the threshold (one person).",
    )
    verify.add_argument("first", metavar="IMAGE_A", help="a picture with a face")
    verify.add_argument("second", metavar="IMAGE_B", help="another picture with a face")
    _recognition_options(verify)
    verify.set_defaults(handler=cmd_verify)

    identify = actions.add_parser(
        "identify",
        help="who is in a photo, from a folder of people's pictures",
        description="For each face of the photo, the nearest person of the database folder "
        "and the distance, or 'not in the database' beyond the threshold.",
    )
    identify.add_argument("input", metavar="IMAGE", help="the photo")
    identify.add_argument(
        "--db",
        required=True,
        metavar="FOLDER",
        help="one subfolder of pictures per person, or pictures named person.jpg, "
        "person_2.jpg; descriptors cached in FOLDER.faces.safetensors beside it",
    )
    identify.add_argument("--out", help="write the photo with each face's box and name")
    _recognition_options(identify)
    identify.set_defaults(handler=cmd_identify)
    return parser


def _recognition_options(parser) -> None:
    parser.add_argument(
        "--threshold",
        type=float,
        default=SAME_PERSON_THRESHOLD,
        metavar="D",
        help=f"the largest distance of one person (default: dlib's {SAME_PERSON_THRESHOLD})",
    )
    parser.add_argument(
        "--min-face-size",
        type=float,
        default=20,
        metavar="PIXELS",
        help="the smallest face looked for (default: 20)",
    )


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


# ------------------------------------------------------------ verify and identify
def _picture(path, who: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        state = "does not exist" if not path.exists() else "is not a file"
        raise InputValueError(f"faces {who}: {str(path)!r} {state}")
    image = read_image(path)
    if image is None:
        raise InputValueError(f"faces {who}: {str(path)!r} is not a picture Pillow can read")
    return image


def _check_threshold(args, who: str) -> None:
    if not args.threshold > 0:
        raise ConfigError(f"faces {who}: --threshold must be > 0, got {args.threshold:g}")


def _box_text(corners) -> str:
    """ "[x 182, y 63, w 84, h 108]" for MTCNN's corners, rounded as ``detect`` rounds."""
    x1, y1, x2, y2 = corners
    x, y, w, h = np.round([x1, y1, x2 - x1, y2 - y1]).astype(int)
    return f"[x {x}, y {y}, w {w}, h {h}]"


def _encoder(args) -> FaceEncoder:
    return FaceEncoder(min_face_size=args.min_face_size)


def cmd_verify(args) -> int:
    _check_threshold(args, "verify")
    pictures = [(Path(p), _picture(p, "verify")) for p in (args.first, args.second)]
    encoder = _encoder(args)
    descriptors = []
    for path, image in pictures:
        faces = encoder.encode(image)
        if not len(faces):
            raise InputValueError(f"faces verify: no face found in {path.name}")
        note = f" (the most confident of {len(faces)})" if len(faces) > 1 else ""
        print(
            f"{path.name}: face at {_box_text(faces.boxes[0])}{note}, "
            f"confidence {faces.confidences[0]:.4f}"
        )
        descriptors.append(faces.descriptors[0])
    distance, same = verify(descriptors[0], descriptors[1], args.threshold)
    verdict = "same person" if same else "different people"
    print(f"distance {distance:.4f}: {verdict} (threshold {args.threshold:g})")
    return 0


def cmd_identify(args) -> int:
    _check_threshold(args, "identify")
    path = Path(args.input)
    image = _picture(path, "identify")
    folder = Path(args.db)
    if not folder.is_dir():
        raise InputValueError(f"faces identify: --db {str(folder)!r} is not a folder")
    if args.out:
        picture_format(args.out)
    encoder = _encoder(args)
    database, report = face_database(folder, encoder)
    print(report)
    if not database:
        raise InputValueError(
            f"faces identify: no face found in the pictures of {str(folder)!r}; it needs one "
            "subfolder of pictures per person, or pictures named after people"
        )
    faces = encoder.encode(image)
    height, width = image.shape[:2]
    print(
        f"{path.name} ({width}x{height}): {_count(len(faces), 'face') if len(faces) else 'no face'}"
    )
    labels = []
    for k in range(len(faces)):
        name, distance = identify(faces.descriptors[k], database, args.threshold)
        where = f"  {k + 1}. box {_box_text(faces.boxes[k])}"
        if name is None:
            nearest, _ = identify(faces.descriptors[k], database, np.inf)
            print(f"{where}: not in the database (nearest {nearest}, distance {distance:.4f})")
            labels.append(f"? {distance:.2f}")
        else:
            print(f"{where}: {name} (distance {distance:.4f})")
            labels.append(f"{name} {distance:.2f}")
    if args.out:
        boxes = faces.boxes + np.array([0.0, 0.0, 1.0, 1.0])  # one past the last pixel
        side = min(image.shape[:2])
        drawn = draw_boxes(
            image, boxes, labels=labels, color=BOX_COLOR, width=max(1, round(side / 200))
        )
        write_image(args.out, drawn)
        print(f"wrote {args.out} (boxes and names)")
    return 0


# ----------------------------------------------------------------------- database
DATABASE_FORMAT = "nnlab-face-database"
_TRAILING_NUMBER = re.compile(r"[\s_\-.]*\d+$")


def database_cache_path(folder) -> Path:
    """``people.faces.safetensors`` beside the folder ``people/``."""
    folder = Path(folder).resolve()
    return folder.with_name(f"{folder.name}.faces.safetensors")


def database_pictures(folder) -> list[tuple[str, Path]]:
    """(person, picture) for the pictures of a database folder, sorted: each subfolder's
    files under its name, and files at the top under their name without a trailing number
    (``alice_2.jpg`` -> alice).  Hidden files and the cache are left out; whether a file
    is a picture is decided when it is read."""
    folder = Path(folder)
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found += [
                (entry.name, f)
                for f in sorted(entry.rglob("*"))
                if f.is_file() and not f.name.startswith(".")
            ]
        elif entry.is_file():
            name = _TRAILING_NUMBER.sub("", entry.stem) or entry.stem
            found.append((name, entry))
    return found


def _model_key() -> str:
    """What the cached descriptors depend on: the net, its weights and the alignment."""
    return (
        f"{MODEL_ID} (face-api {NPM_VERSION} weights); chip {CHIP_SIZE} padding {PADDING}; "
        f"MTCNN template {MTCNN_TEMPLATE.round(4).tolist()} weights {MTCNN_WEIGHTS.tolist()}"
    )


def _read_database_cache(path: Path) -> dict:
    """sha256 -> (person, relative path, descriptor (128,) or None) of a cache file; {}
    when there is none or it cannot be used (damaged, another model)."""
    if not path.is_file():
        return {}
    try:
        tensors, metadata = read_safetensors(path, kind="face database")
        verify_digest(path, tensors, metadata)
        if metadata.get("format") != DATABASE_FORMAT or metadata.get("model") != _model_key():
            return {}
        entries = json.loads(metadata["pictures"])
        descriptors = tensors["descriptors"]
        cached = {}
        for entry in entries:
            row = entry["row"]
            cached[entry["sha256"]] = (
                entry["name"],
                entry["path"],
                None if row is None else descriptors[row],
            )
        return cached
    except (ModelFileError, KeyError, TypeError, ValueError, IndexError):
        return {}


def _write_database_cache(path: Path, entries: list[dict], descriptors: list) -> None:
    stacked = (
        np.stack(descriptors).astype(np.float32)
        if descriptors
        else np.zeros((0, DESCRIPTOR_SIZE), np.float32)
    )
    tensors = {"descriptors": stacked}
    metadata = {
        "format": DATABASE_FORMAT,
        "model": _model_key(),
        "pictures": json.dumps(entries, sort_keys=True),
    }
    metadata["sha256"] = file_digest(tensors, metadata)
    atomic_write_bytes(path, sorted_header(st_save(tensors, metadata=metadata)))


def face_database(folder, encoder: FaceEncoder) -> tuple[dict, str]:
    """(name -> descriptors (k, 128), a line saying what was done) for a database folder
    (:func:`database_pictures`).  A picture's descriptor is its largest face's; pictures
    known to the cache beside the folder (by content, SHA-256) are not encoded again; the
    cache is rewritten when pictures were added, changed or removed."""
    folder = Path(folder)
    cache = database_cache_path(folder)
    cached = _read_database_cache(cache)
    entries, descriptors, database = [], [], {}
    encoded = reused = 0
    for name, picture in database_pictures(folder):
        digest = hashlib.sha256(picture.read_bytes()).hexdigest()
        relative = picture.relative_to(folder).as_posix()
        if digest in cached and cached[digest][0] == name:
            descriptor = cached[digest][2]
            reused += 1
        else:
            image = read_image(picture)
            if image is None:
                continue  # not a picture (a note, a README): ignored
            faces = encoder.encode(image)
            encoded += 1
            if not len(faces):
                warnings.warn(f"faces identify: no face in {relative}; left out", stacklevel=2)
                descriptor = None
            else:
                sides = faces.boxes[:, 2:] - faces.boxes[:, :2]
                largest = int(np.argmax(sides[:, 0] * sides[:, 1]))
                if len(faces) > 1:
                    warnings.warn(
                        f"faces identify: {len(faces)} faces in {relative}; the largest is "
                        f"taken as {name}",
                        stacklevel=2,
                    )
                descriptor = faces.descriptors[largest]
        row = None
        if descriptor is not None:
            row = len(descriptors)
            descriptors.append(descriptor)
            database.setdefault(name, []).append(descriptor)
        entries.append({"name": name, "path": relative, "sha256": digest, "row": row})
    known = {(e["sha256"], e["name"]) for e in entries}
    removed = sum((digest, name) not in known for digest, (name, _, _) in cached.items())
    if encoded or removed or not cache.is_file():
        try:
            _write_database_cache(cache, entries, descriptors)
        except OSError as err:
            warnings.warn(f"could not cache the face database at {cache}: {err}", stacklevel=2)
    database = {name: np.stack(rows) for name, rows in database.items()}
    pictures = sum(len(rows) for rows in database.values())
    report = (
        f"database {folder.name}: {len(database)} "
        f"{'person' if len(database) == 1 else 'people'}, "
        f"{_count(pictures, 'picture')} with a face ({encoded} encoded, {reused} from "
        f"{cache.name})"
    )
    return database, report
