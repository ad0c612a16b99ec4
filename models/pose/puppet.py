"""The instant, weight-free preview: the reference image bent like a paper puppet along the skeleton.

Method: a triangle mesh is built once over the reference -- its visible body keypoints, "rib"
points on both sides of every bone (a quarter and three quarters along, plus a little past the
end of the hands, feet and head) and fixed points on the image border -- by Delaunay
triangulation. Per driving frame every mesh point is moved: keypoints to the retargeted skeleton,
rib points rigidly with their bone (rotated and stretched with it), border points stay. Each
triangle's inverse affine map (destination -> reference) is applied to the pixels that triangle
covers in the destination (a triangle-id raster), giving one dense map for a single `cv2.remap`.
That is one remap per frame instead of one `warpAffine` per triangle, which keeps 512 px well
under 0.1 s on a CPU. Overlapping triangles (an arm in front of the body) are drawn in layer
order: background, torso and head, legs, arms -- so limbs stay on top. The retargeted skeleton
in the target's style is drawn over the result.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from models.pose.keypoints import BODY, Person, PoseFrame, PoseSequence
from models.pose.render import overlay_pose
from models.pose.retarget import BONES, retarget

BORDER_STEPS = 4            # border points per image side (the corners included)
RIB_ALONG = (0.25, 0.75)    # where along a bone its rib points sit (joints themselves are points)
RIB_TIP = 1.35              # rib points a little past a bone's free end carry the hand / foot / head
RIB_WIDTH = 0.22            # rib offset from the bone as a share of its length ...
RIB_MIN_PX = 4.0            # ... but at least this many pixels
PIN_GRID = 8                # background pins per short side ...
PIN_MARGIN = 0.2            # ... kept this share of the body's height away from every bone
MERGE_PX = 1.0              # mesh points closer than this are one point (Delaunay needs distinct points)

ARMS = {BODY[n] for n in ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
                          "left_wrist")}
LEGS = {BODY[n] for n in ("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
                          "right_toe", "left_toe")}
LAYER_BORDER, LAYER_TORSO, LAYER_LEGS, LAYER_ARMS = 0, 1, 2, 3


def _layer_of_bone(a: int, b: int) -> int:
    # A bone belongs to a limb when its child does (neck->shoulder counts as arm, neck->hip as leg).
    if b in ARMS:
        return LAYER_ARMS
    if b in LEGS:
        return LAYER_LEGS
    return LAYER_TORSO


@dataclass(frozen=True)
class _Rib:
    bone: int          # index into BONES
    along: float       # 0 at the parent, 1 at the child
    across: float      # signed offset along the bone's normal, in units of the bone's length


@dataclass
class _Mesh:
    source: np.ndarray         # (N, 2) float64 points in the reference image
    joint: np.ndarray          # (N,) body index for keypoints, -1 otherwise
    rib: list[_Rib | None]     # rib description for rib points
    fixed: np.ndarray          # (N,) bool: border and background pins, which never move
    triangles: np.ndarray      # (M, 3) point indices, in drawing order


def _seen(points: np.ndarray, threshold: float) -> np.ndarray:
    return (points[:, 2] > 0) & (points[:, 2] >= threshold)


def _terminal_bones(visible: np.ndarray) -> set[int]:
    # A bone is terminal when no visible bone continues from its child (hands, feet, head top).
    parents = {a for a, b in BONES if visible[a] and visible[b]}
    return {k for k, (a, b) in enumerate(BONES) if visible[a] and visible[b] and b not in parents}


def _build_mesh(reference: Person, size: tuple[int, int], threshold: float) -> _Mesh:
    w, h = size
    visible = _seen(reference.body, threshold)
    body = reference.body[:, :2].astype(np.float64)
    points: list[np.ndarray] = []
    joint: list[int] = []
    ribs: list[_Rib | None] = []
    layers: list[int] = []

    def add(p: np.ndarray, j: int, rib: _Rib | None, layer: int) -> None:
        p = np.clip(p, [0.0, 0.0], [w - 1.0, h - 1.0])
        if points and np.min(np.linalg.norm(np.asarray(points) - p, axis=1)) < MERGE_PX:
            return
        points.append(p)
        joint.append(j)
        ribs.append(rib)
        layers.append(layer)

    for i in np.flatnonzero(visible):
        add(body[i], int(i), None, LAYER_ARMS if i in ARMS else LAYER_LEGS if i in LEGS else LAYER_TORSO)
    terminal = _terminal_bones(visible)
    for k, (a, b) in enumerate(BONES):
        if not (visible[a] and visible[b]):
            continue
        bone = body[b] - body[a]
        length = float(np.linalg.norm(bone))
        if length < 1e-6:
            continue
        normal = np.array([-bone[1], bone[0]]) / length
        across = max(RIB_WIDTH, RIB_MIN_PX / length)
        for t in RIB_ALONG + ((RIB_TIP,) if k in terminal else ()):
            for side in (-1.0, 1.0):
                add(body[a] + t * bone + side * across * length * normal, -1,
                    _Rib(k, t, side * across), _layer_of_bone(a, b))
    n_moving = len(points)
    for t in np.linspace(0.0, 1.0, BORDER_STEPS + 1):
        for p in ((t * (w - 1), 0.0), (t * (w - 1), h - 1.0), (0.0, t * (h - 1)), (w - 1.0, t * (h - 1))):
            add(np.array(p), -1, None, LAYER_BORDER)
    for p in _background_pins(body, visible, w, h):
        add(p, -1, None, LAYER_BORDER)
    source = np.asarray(points, np.float64)
    fixed = np.arange(len(source)) >= n_moving
    triangles = _delaunay(source, w, h)
    # Drawing order: a triangle is as deep as its deepest vertex, ties by the average; later on top.
    layer_arr = np.asarray(layers)
    keys = [(layer_arr[t].min(), layer_arr[t].mean()) for t in triangles]
    order = sorted(range(len(triangles)), key=lambda i: keys[i])
    return _Mesh(source, np.asarray(joint), ribs, fixed, triangles[order] if len(order) else triangles)


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _background_pins(body: np.ndarray, visible: np.ndarray, w: int, h: int) -> list[np.ndarray]:
    """A grid of fixed pins away from the body, so a moving limb only drags nearby background
    instead of smearing triangles that reach to the image border."""
    if visible.sum() < 2:
        return []
    seen = body[visible]
    margin = PIN_MARGIN * float(max(np.ptp(seen[:, 0]), np.ptp(seen[:, 1]), 1.0))
    step = min(w, h) / PIN_GRID
    xs, ys = np.meshgrid(np.arange(step / 2, w, step), np.arange(step / 2, h, step))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    nearest = np.min(np.linalg.norm(grid[:, None] - seen[None], axis=2), axis=1)
    for a, b in BONES:
        if visible[a] and visible[b]:
            nearest = np.minimum(nearest, _segment_distance(grid, body[a], body[b]))
    return list(grid[nearest > margin])


def _delaunay(points: np.ndarray, w: int, h: int) -> np.ndarray:
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    lookup: dict[tuple[float, float], int] = {}
    for i, (x, y) in enumerate(points.astype(np.float32)):
        subdiv.insert((float(x), float(y)))
        lookup[(float(x), float(y))] = i
    triangles = []
    for tri in subdiv.getTriangleList():
        corners = [lookup.get((float(np.float32(tri[2 * j])), float(np.float32(tri[2 * j + 1])))) for j in range(3)]
        if None not in corners:                   # drops triangles on Subdiv2D's virtual outer vertices
            triangles.append(corners)
    return np.asarray(triangles, np.int64).reshape(-1, 3)


def _destinations(mesh: _Mesh, reference: Person, pose: Person | None, threshold: float) -> np.ndarray:
    """Where every mesh point goes for one retargeted pose."""
    ref = reference.body[:, :2].astype(np.float64)
    if pose is None:
        return mesh.source.copy()
    target = pose.body[:, :2].astype(np.float64)
    seen = _seen(pose.body, threshold)
    neck = BODY["neck"]
    shift = target[neck] - ref[neck] if seen[neck] else np.zeros(2)
    # A point whose keypoint vanished in this frame rides along with the whole body.
    moved = np.where(seen[:, None], target, ref + shift)
    dst = mesh.source.copy()
    for i, j in enumerate(mesh.joint):
        if j >= 0:
            dst[i] = moved[j]
    for i, rib in enumerate(mesh.rib):
        if rib is None:
            continue
        a, b = BONES[rib.bone]
        bone = moved[b] - moved[a]
        length = float(np.linalg.norm(bone))
        if length < 1e-6:
            dst[i] = mesh.source[i] + (moved[a] - ref[a])
            continue
        normal = np.array([-bone[1], bone[0]]) / length
        dst[i] = moved[a] + rib.along * bone + rib.across * length * normal
    return dst


def _inverse_affines(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(M, 3, 2): per triangle, [x, y, 1] @ A maps a destination pixel to the reference image."""
    ones = np.ones((len(triangles), 3, 1))
    a = np.concatenate([dst[triangles], ones], axis=2)          # (M, 3, 3) destination corners
    b = src[triangles]                                          # (M, 3, 2) reference corners
    det = np.linalg.det(a)
    usable = np.abs(det) > 1e-9                                 # a collapsed triangle maps nowhere
    out = np.zeros((len(triangles), 3, 2))
    out[:, 0, 0] = out[:, 1, 1] = 1.0                           # identity for the collapsed ones
    if usable.any():
        out[usable] = np.linalg.solve(a[usable], b[usable])
    return out


class _Warper:
    """Precomputed pixel grid and buffers; one dense remap per frame."""

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.xs, self.ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        self.ids = np.zeros((h, w), np.int32)

    def warp(self, image: np.ndarray, src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        affines = _inverse_affines(src, dst, triangles)
        # Table row 0 is the identity, for pixels no triangle covers.
        table = np.concatenate([np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]), affines]).astype(np.float32)
        self.ids.fill(0)
        corners = np.round(dst[triangles] * 16).astype(np.int32)  # 4 fractional bits for the raster
        for k, tri in enumerate(corners):
            cv2.fillConvexPoly(self.ids, tri, k + 1, lineType=cv2.LINE_8, shift=4)
        # Six small gathers (one per affine coefficient) are much cheaper than one (H, W, 3, 2) gather.
        ax, ay, bx, by, cx, cy = (column[self.ids] for column in table.reshape(-1, 6).T.copy())
        map_x = ax * self.xs + bx * self.ys + cx
        map_y = ay * self.xs + by * self.ys + cy
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def puppet_frames(reference_image: np.ndarray, reference: Person, seq: PoseSequence, target: str = "vace",
                  retarget_first: bool = True, threshold: float = 0.3) -> Iterator[np.ndarray]:
    """One preview frame per driving frame (HxWx3 uint8 RGB, the reference image's size), streamed.

    `reference` is the reference image's pose in its pixels. With `retarget_first` the driving
    sequence is retargeted onto it first; without (the task's switch off, or `seq` already
    retargeted) its points are only rescaled to the image.
    """
    h, w = reference_image.shape[:2]
    if retarget_first:
        poses = retarget(seq, reference, (w, h), threshold)
    else:
        poses = PoseSequence([_rescale(f, w, h) for f in seq.frames], seq.fps)
    mesh = _build_mesh(reference, (w, h), threshold)
    warper = _Warper(w, h)
    for frame in poses.frames:
        pose = frame.people[0] if frame.people else None
        dst = _destinations(mesh, reference, pose, threshold)
        warped = warper.warp(reference_image, mesh.source, dst, mesh.triangles)
        yield overlay_pose(warped, frame, target)


def _rescale(frame: PoseFrame, w: int, h: int) -> PoseFrame:
    scale = np.array([w / frame.width, h / frame.height, 1.0], np.float32)
    people = [Person(*(part * scale for part in p.parts().values())) for p in frame.people]
    return PoseFrame(w, h, people)
