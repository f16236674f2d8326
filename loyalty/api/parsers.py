"""The API's JSON parser: DRF's, plus a bound on the body's size and nesting depth."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from loyalty.inputs import MAX_JSON_DEPTH, JsonInputError, JsonTooDeep, json_loads


class JSONParser(parsers.JSONParser):
    """JSON bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE bytes (else 413, see loyalty.api.errors) and
    MAX_JSON_DEPTH levels of nesting (else 400 `invalid`, found before the parser recurses into it)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # None: no limit (as in Django)
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise RequestDataTooBig(_("The request body is larger than %(limit)s bytes.") % {"limit": limit})
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError) as error:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": error}) from None
        try:
            return json_loads(text)
        except JsonTooDeep:
            raise ParseError(
                _("The JSON is nested more than %(depth)s levels deep.") % {"depth": MAX_JSON_DEPTH}
            ) from None
        except JsonInputError as error:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": error}) from None
