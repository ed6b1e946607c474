"""The shapes the HTTP API answers with (pydantic models): the OpenAPI schema at ``/openapi.json`` is
generated from these, so it describes what the server really returns."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """Every refusal and every failure: a machine-readable code and a sentence for people."""

    error: str = Field(description="a stable code, e.g. too_large, unsupported_type, unknown_model, busy")
    detail: str = Field(description="what went wrong, in words")


class FaceResult(BaseModel):
    """One face: the same JSON as ``emorec detect --json`` gives for it."""

    box: List[int] = Field(min_length=4, max_length=4, description="[x, y, w, h] in pixels of the image")
    emotion: Optional[str] = Field(description="the top class; null when its probability is below "
                                               "min_confidence (the label is withheld: unsure)")
    scores: Dict[str, float] = Field(description="class -> calibrated probability (they sum to 1)")
    id: Optional[int] = Field(None, description="track id (videos only)")
    detection: Optional[float] = Field(None, description="the face detector's confidence, where it gives one")


class AnalyzeResult(BaseModel):
    """``POST /v1/analyze``: the image's faces and their emotions."""

    file: str = Field(description="the uploaded file's name")
    format: str = Field(description="the image's media type, from its own header")
    model: str
    detector: str
    flip: bool = Field(description="whether each face was averaged with its mirror image")
    min_confidence: float
    width: int
    height: int
    faces: List[FaceResult]
    elapsed_ms: float = Field(description="time the server spent on the request")


class DetectorInfo(BaseModel):
    name: str
    description: str


class ModelList(BaseModel):
    """``GET /v1/models``: the model cards (public facts only) and the usable face detectors."""

    model_config = ConfigDict(protected_namespaces=())

    default: str
    models: List[Dict[str, Any]] = Field(description="model cards: name, classes, input, evaluation, training")
    default_detector: str
    detectors: List[DetectorInfo]


class Health(BaseModel):
    """``GET /healthz``: liveness, counters and limits."""

    model_config = ConfigDict(extra="allow")  # and ServerConfig.extra

    status: str
    version: str
    uptime_s: float
    served: int
    skipped: int = Field(description="analyses never run: their client left or they waited too long")
    pending: int = Field(description="requests being received, queued or analysed")
    limits: Dict[str, Union[int, float]]
    models: List[str]
    default_model: str
    detectors: List[str]
    default_detector: str
    unavailable_detectors: Dict[str, str]


# status -> when the server answers it with an ErrorBody
ERRORS = {
    400: "bad request (no file, empty file, no multipart boundary, bad Content-Length), a Host this server "
         "does not answer to, or the client left",
    404: "no such page or endpoint",
    405: "method not allowed",
    408: "the headers or the upload arrived too slowly",
    413: "the file, its pixel count or its decoded size is over the limit",
    415: "not multipart/form-data, or not an image of a supported type",
    422: "a corrupt image, an unknown model or detector, a detector not installed here, or a bad option",
    500: "a bug or a model that cannot load here (the server log has the details)",
    503: "busy (Retry-After), or the analysis overran its time limit",
}


def error_responses(*statuses: int) -> dict:
    """FastAPI ``responses=`` for the given statuses, each an :class:`ErrorBody`."""
    return {s: {"model": ErrorBody, "description": ERRORS[s]} for s in statuses}
