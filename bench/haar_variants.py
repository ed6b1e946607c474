"""Haar variants kept as comparisons for the benches, out of the package: each was a default of emorec's once, or
a candidate for it, and each lost to today's on real photographs or on time (bench/RESULTS.md has the figures).

* ``EqualizedHaar``: local histogram equalisation (CLAHE) of the frame before the search, as the first emorec
  default did (with scale_factor 1.1, min_neighbors 5, min 24 px at full size): it quadrupled the false faces
  on portraits and cost time.
* ``EveryBoxCheckedHaar``: the default of 2026-12-05: every group took the second look, however many windows
  the search gave it. Same faces on the tune photos; 1.5 ms more a 640x480 frame with a face.
* ``OneCascadeHaar``: the default of 2026-12-05 to 2026-12-06: the second look asked the search's cascade alone
  (13 windows in one view; no second cascade had to agree). 4 false boxes in 819 images of the first tune photos.
* ``WideBorderHaar``: a candidate of 2026-12-06: today's, with windows from half the shorter side searched on the
  bordered copy (from 0.7 in the default): 47 more faces cut by the picture's edge on the tune photos (1,263 of
  1,287 against 1,216), and about 1.7 ms more a 640x480 frame against 0.3: the issue asks for no loss of speed.
* ``TwoLooksHaar``: the default of 2026-12-06 (morning): the search's cascade first (13 windows in one view), then
  the alt cascade (5), and no border around the picture. It missed nearly every face that fills its picture (a face
  crop) and faces whose box the search's cascade gathered few windows in at 32 px (Grace Hopper's).
* ``UprightOnlyHaar``: the default of 2026-12-06 until the evening: the search of the upright picture alone, not
  again turned 15 degrees each way where it finds no face. It found 404 of the 429 faces of the tune photos at 13
  sizes; the turned search finds 20 of the 25 it missed (424), and no false box.
* The older variants below search the upright picture alone, as they did.
* ``PreviousHaar``: the default of 2026-11-26 to 2026-12-05: a box of cascade weight 6 or more was kept
  unchecked; a weaker group had to gather 7 windows in a view turned +-15 degrees or 16 in the upright one; a
  lone window 12 in a turned view. It let buttons, fabric and armour through in large photos (the "strong"
  boxes were never checked) and missed plain frontal faces whose upright view gathered 12-15 windows.
"""

from __future__ import annotations

import numpy as np

from emorec.detectors import Detections
from emorec.detectors.haar import (HaarDetector, TILT_DEGREES, confirmed, group_windows, load_cascade,
                                   one_box_a_face, view_hits)


class EqualizedHaar(HaarDetector):
    """The search on a CLAHE-equalised copy (clipLimit 2, 8x8 tiles)."""

    def search_copy(self, grey, min_px):
        import cv2

        grey, scale, m = super().search_copy(grey, min_px)
        return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey), scale, m


class WideBorderHaar(HaarDetector):
    """The bordered copy searched from windows of half the shorter side."""

    large = 0.5


class UprightOnlyHaar(HaarDetector):
    """Today's, without the search of the picture turned where the upright one finds no face."""

    def __init__(self, **options):
        super().__init__(**{"turned": False, **options})


class TwoLooksHaar(UprightOnlyHaar):
    """The second look of the search's cascade (``hits`` windows in one of the three views), then the alt cascade's
    (``agree``; 0: none); no border."""

    pad, hits, agree = 0.0, 13, 5

    def is_face(self, grey, box):
        if not confirmed(grey, box, load_cascade(self.cascade, "views"), self.hits):
            return False
        return not self.agree or confirmed(grey, box, agree=self.agree)


class OneCascadeHaar(TwoLooksHaar):
    """The second look without the second cascade."""

    agree = 0


class EveryBoxCheckedHaar(OneCascadeHaar):
    """No group is sure enough to skip the second look (of the search's cascade alone, as then)."""

    sure = float("inf")


class PreviousHaar(UprightOnlyHaar):
    """The previous default's rules (see the module docstring), on today's search (windows, grouping, sizes)."""

    STRONG, TILT_HITS, UPRIGHT_HITS, LONE_HITS = 6.0, 7, 16, 12

    def _detect(self, grey, min_px, max_px):
        grey, scale, m = self.search_copy(grey, min_px)
        if min(grey.shape) < m:
            return Detections.empty()
        cascade = load_cascade(self.cascade)
        windows, _, levels = cascade.detectMultiScale3(grey, scaleFactor=self.scale_factor, minNeighbors=0,
                                                       minSize=(m, m), outputRejectLevels=True)
        boxes, counts, weights = group_windows(windows, levels)

        def hits(b, angle):
            return view_hits(grey, b, cascade, angle)

        def keep(b, n, w):
            if n <= 1:
                return hits(b, TILT_DEGREES) >= self.LONE_HITS or hits(b, -TILT_DEGREES) >= self.LONE_HITS
            return (w >= self.STRONG or hits(b, TILT_DEGREES) >= self.TILT_HITS
                    or hits(b, -TILT_DEGREES) >= self.TILT_HITS or hits(b, 0.0) >= self.UPRIGHT_HITS)

        k = np.array([keep(b, n, w) for b, n, w in zip(boxes, counts, weights)], bool)
        boxes, weights = boxes[k], weights[k]
        found = Detections(boxes[one_box_a_face(boxes, weights)])
        return found.transformed(scale) if scale != 1.0 else found
