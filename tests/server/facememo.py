"""A memo of the real face models' answers, for server tests whose subject is not face analysis.

Most server tests enrol real people from real photos to get members (lifecycle, erasure, cards,
devices...), and the same few photos of ``../shared/faces/people`` are analysed hundreds of
times a run: dlib's HOG detector, shape predictor and ResNet take ~1.5 s of CPU per enrolment.
The models are deterministic (dlib's ResNet with ``num_jitters=1``, the HOG scan, the 5-point
predictor), so the second analysis of the same pixels gives exactly the first one's answer.

This is memoisation, not a mock (tests/facememo.py): the first call for an image runs the real
model, and a later call with the same pixels (sha256 of the decoded image, its shape and dtype)
and the same boxes returns a copy of what the model returned then. Decoding, the quality checks,
the thumbnail and everything around the models still run on every photo. The memo lives in one
test process and one analyser (one set of models, one configuration), never on disk.

Tests whose subject is the analysis itself (enrolment, photo checks, photo limits, bad input:
mark ``face_analysis``) get the plain analyser and run the models on every photo, as does every
server started in a subprocess.
"""

from __future__ import annotations

from models.types import FaceDetector, FaceEmbedder
from server.services.membership.faces import FaceAnalyser
from tests.facememo import MemoDetector, MemoEmbedder


class MemoFaceAnalyser(FaceAnalyser):
    """:class:`FaceAnalyser` whose detector and embedder answer from the memo (module docs)."""

    _memo: tuple[MemoDetector, MemoEmbedder] | None = None

    def _models(self) -> tuple[FaceDetector, FaceEmbedder]:
        detector, embedder = super()._models()  # the real models, loaded once under its lock
        with self._lock:
            if self._memo is None:
                self._memo = (MemoDetector(detector), MemoEmbedder(embedder))
            return self._memo
