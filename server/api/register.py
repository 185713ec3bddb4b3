"""The register's photo check: live feedback on one enrolment photo, nothing stored."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile

from server.api.schemas import PhotoCheckOut
from server.deps import Enroller, RuntimeDep
from server.services.errors import TooLarge
from server.services.membership import photo_check

router = APIRouter(prefix="/api/v1", tags=["register"])


@router.post("/enrolments/check-photo", response_model=PhotoCheckOut)
def check_photo(who: Enroller, rt: RuntimeDep, photo: Annotated[UploadFile, File()]) -> Any:
    # No database session here: the analysis (seconds of CPU) must not hold a connection.
    limit = rt.settings.max_upload_bytes
    data = photo.file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the photo is larger than {limit:,} bytes")
    return photo_check.check_photo(analyser=rt.faces, data=data).as_json()
