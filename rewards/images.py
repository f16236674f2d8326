"""Reward thumbnails made with Pillow when an image is saved."""

import contextlib
import logging
import os
from io import BytesIO

from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = (400, 400)


def thumbnail_make(image_file, size: tuple[int, int] = THUMBNAIL_SIZE) -> ContentFile | None:
    """A copy of `image_file` at most `size`, upright (EXIF), as JPEG, or PNG when it has transparency.

    Returns None (and logs) when the file is not an image Pillow can read; the reward then has no thumbnail.
    """
    try:
        image_file.seek(0)
        with Image.open(image_file) as source:
            image = ImageOps.exif_transpose(source)
            image.thumbnail(size, Image.Resampling.LANCZOS)
            transparent = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
            buffer = BytesIO()
            if transparent:
                image.convert("RGBA").save(buffer, format="PNG", optimize=True)
                extension = "png"
            else:
                image.convert("RGB").save(buffer, format="JPEG", quality=85, optimize=True)
                extension = "jpg"
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError) as error:
        logger.warning("reward image %s: no thumbnail made (%s)", getattr(image_file, "name", "?"), error)
        return None
    finally:
        with contextlib.suppress(OSError, ValueError):
            image_file.seek(0)
    stem = os.path.splitext(os.path.basename(image_file.name or "reward"))[0] or "reward"
    return ContentFile(buffer.getvalue(), name=f"{stem}_thumb.{extension}")


def thumbnail_sync(instance, save_kwargs: dict) -> dict:
    """For a model's save(): make `instance.thumbnail` from a new `instance.image` (or drop it with the image).

    Returns the save() keyword arguments, with `thumbnail` added to `update_fields` when `image` is in them.
    """
    if instance.image and (not getattr(instance.image, "_committed", True) or not instance.thumbnail):
        thumbnail = thumbnail_make(instance.image)
        if thumbnail is not None:
            instance.thumbnail.save(thumbnail.name, thumbnail, save=False)
    elif not instance.image and instance.thumbnail:
        instance.thumbnail = ""
    if save_kwargs.get("update_fields") is not None and "image" in save_kwargs["update_fields"]:
        save_kwargs = {**save_kwargs, "update_fields": {*save_kwargs["update_fields"], "thumbnail"}}
    return save_kwargs
