"""Following faces across video frames: stable ids, smoothed probabilities, and less detection.

Works with any detector (:mod:`emorec.detectors`). Every ``detect_every`` frames the detector searches the whole frame and its boxes are matched to
the known tracks by overlap (IoU, greedy, best pairs first); unmatched boxes start new tracks. On the
frames between, each track is looked for only in a small region around its last box, at scales close
to its size (a search of a few hundred pixels instead of the whole frame). A track not found
keeps its last box for up to ``max_missed`` frames, then is dropped. Each track's probabilities are
smoothed with an exponential moving average (``smooth`` = weight of the past).

>>> tracker = FaceTracker(EmotionRecognizer(), detect_every=10)
>>> for frame in frames:
...     faces = tracker.update(frame)     # Face objects with .id, smoothed .scores
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detectors import Detections
from .recognizer import EmotionRecognizer, Face

# Full-frame detection every DETECT_EVERY frames, a local search around each face in between (1: detect on
# every frame); what it saves and loses: bench/bench_video.py, bench/RESULTS.md.
DETECT_EVERY = 10
SMOOTH = 0.6  # weight of the past in each face's moving average of probabilities


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return float(inter / union) if union > 0 else 0.0


def match(boxes_a, boxes_b, threshold: float) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs (i, j) of boxes with IoU >= threshold, highest IoU first."""
    pairs = sorted(((iou(a, b), i, j) for i, a in enumerate(boxes_a) for j, b in enumerate(boxes_b)), reverse=True)
    used_a, used_b, out = set(), set(), []
    for v, i, j in pairs:
        if v < threshold:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((i, j))
    return out


@dataclass
class Track:
    id: int
    box: np.ndarray  # float (4,)
    landmarks: np.ndarray | None = None  # (5, 2) where the detector gives them
    probs: np.ndarray | None = None  # smoothed
    first_frame: int = 0
    last_seen: int = 0
    missed: int = 0  # consecutive frames without a detection


class FaceTracker:
    """Stable face ids and smoothed emotions over a video.

    ``detect_every``: full-frame detection every k frames (1 = every frame, no local search).
    ``smooth``: EMA weight of the past probabilities (0 = none). ``iou_threshold``: overlap that makes
    a detection the same face. ``max_missed``: frames a face may go undetected before its track ends.
    ``search``: the local search region, in box sizes added on each side. ``hold``: frames a face's
    last box is still reported after it was last found (bridges the cascade's misses).
    """

    def __init__(self, recognizer: EmotionRecognizer | None = None, *, detect_every: int = DETECT_EVERY,
                 smooth: float = SMOOTH, iou_threshold: float = 0.3, max_missed: int = 10, search: float = 0.5,
                 hold: int = 3):
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"smooth must be in [0, 1), got {smooth}")
        self.rec = recognizer or EmotionRecognizer()
        self.detect_every = int(detect_every)
        self.smooth = float(smooth)
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self.search = float(search)
        self.hold = int(hold)
        self.tracks: list[Track] = []
        self.frame_index = -1
        self._next_id = 1
        self.full_detections = 0  # how many frames ran the full-frame detector

    @property
    def tracks_started(self) -> int:
        """How many faces (track ids) were started so far."""
        return self._next_id - 1

    def _local(self, frame, track: Track):
        """The detection (box, landmarks) of ``track`` found near its last box, or None."""
        x, y, w, h = track.box
        s = max(w, h)
        roi = (int(x - self.search * s), int(y - self.search * s), int(w + 2 * self.search * s),
               int(h + 2 * self.search * s))
        found = self.rec.detect(frame, roi=roi, sizes=(s / 1.3, s * 1.3))
        if len(found) == 0:
            return None
        k = max(range(len(found)), key=lambda i: iou(found.boxes[i], track.box))
        if iou(found.boxes[k], track.box) <= 0.0:  # only a face that overlaps where this one was
            return None
        return found.boxes[k], None if found.landmarks is None else found.landmarks[k]

    @staticmethod
    def _move(track: Track, box, landmarks) -> None:
        track.box = np.asarray(box, np.float64)
        track.landmarks = landmarks

    def update(self, image, *, color: str = "bgr") -> list[Face]:
        """Process the next frame; returns its faces with track ids and smoothed scores."""
        self.frame_index += 1
        t = self.frame_index
        frame = self.rec.frame(image, color)
        full = not self.tracks or t % self.detect_every == 0
        seen: set[int] = set()
        if full:
            self.full_detections += 1
            found = self.rec.detect(frame)
            pairs = match([tr.box for tr in self.tracks], found.boxes, self.iou_threshold)
            lms = found.landmarks if found.landmarks is not None else [None] * len(found)
            for i, j in pairs:
                self._move(self.tracks[i], found.boxes[j], lms[j])
                seen.add(self.tracks[i].id)
            matched = {j for _, j in pairs}
            for j, b in enumerate(found.boxes):
                if j not in matched:
                    tr = Track(self._next_id, b.astype(np.float64), lms[j], first_frame=t, last_seen=t)
                    self._next_id += 1
                    self.tracks.append(tr)
                    seen.add(tr.id)
            # a track the full detector missed may still be found by a local search
            for tr in self.tracks:
                if tr.id not in seen:
                    hit = self._local(frame, tr)
                    if hit is not None and all(iou(hit[0], o.box) < self.iou_threshold
                                               for o in self.tracks if o.id in seen):
                        self._move(tr, *hit)
                        seen.add(tr.id)
        else:
            for tr in self.tracks:
                hit = self._local(frame, tr)
                if hit is not None:
                    self._move(tr, *hit)
                    seen.add(tr.id)
        for tr in self.tracks:
            if tr.id in seen:
                tr.last_seen, tr.missed = t, 0
            else:
                tr.missed += 1
        self.tracks = [tr for tr in self.tracks if tr.missed <= self.max_missed]
        self._merge_duplicates()

        live = [tr for tr in self.tracks if tr.missed == 0]
        if live:
            lm = None if any(tr.landmarks is None for tr in live) else [tr.landmarks for tr in live]
            probs = self.rec.classify(frame, Detections([np.rint(tr.box) for tr in live], landmarks=lm))
            for tr, p in zip(live, probs):
                tr.probs = p if tr.probs is None else self.smooth * tr.probs + (1.0 - self.smooth) * p
        shown = [tr for tr in self.tracks if tr.probs is not None and tr.missed <= self.hold]
        shown.sort(key=lambda tr: tr.id)
        return self.rec.faces([np.rint(tr.box).astype(int) for tr in shown], [tr.probs for tr in shown],
                              ids=[tr.id for tr in shown], shape=frame.shape)

    def _merge_duplicates(self):
        """Two tracks on one face (after drift): keep the older one."""
        keep: list[Track] = []
        for tr in sorted(self.tracks, key=lambda tr: tr.id):
            if all(iou(tr.box, k.box) < 0.5 for k in keep):
                keep.append(tr)
        self.tracks = keep
