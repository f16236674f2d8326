"""One exception handler: every API error is `{code, detail, fields?}` with a 4xx status."""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from loyalty.services.ledger import LedgerError

API_PATH_PREFIX = "/api/"


class ApiError(exceptions.APIException):
    """Raise with a contract code: ApiError("order_conflict", "…", status=409, extra={...})."""

    def __init__(self, code: str, detail: str, *, status_code: int = 422, extra: dict | None = None,
                 fields: dict | None = None) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.error_code = code
        self.extra = extra or {}
        self.fields = fields


class ErrorSerializer(serializers.Serializer):
    """The shape of every 4xx answer (for the OpenAPI schema)."""

    code = serializers.CharField(help_text="snake_case error code, e.g. `invalid`, `not_found`.")
    detail = serializers.CharField(help_text="Human-readable explanation (translated).")
    fields = serializers.DictField(  # type: ignore[assignment]  # a declared field; the metaclass pops it
        required=False,
        help_text="Validation errors only: a list of messages per field (nested objects for nested fields).",
    )


class MemberExistsErrorSerializer(ErrorSerializer):
    loyalty_id = serializers.CharField(
        required=False, help_text="With `member_exists`: the loyalty ID of the member who has this email."
    )


def _flatten(detail) -> dict:
    if isinstance(detail, dict):
        return {key: _flatten_value(value) for key, value in detail.items()}
    return {"non_field_errors": _flatten_value(detail)}


def _flatten_value(value):
    if isinstance(value, dict):
        return _flatten(value)
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            return [_flatten(item) for item in value]
        return [str(item) for item in value]
    return [str(value)]


def error_body(code: str, detail: str, fields: dict | None = None, **extra) -> dict:
    body = {"code": code, "detail": detail, **extra}
    if fields is not None:
        body["fields"] = fields
    return body


def _invalid(fields: dict) -> Response:
    return Response(error_body("invalid", _("The request is not valid."), fields),
                    status=status.HTTP_422_UNPROCESSABLE_ENTITY)


def _too_large_body() -> dict:
    return error_body("invalid", _("The request body is larger than %(limit)s bytes.")
                      % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE})


def _response(exc, context) -> Response | None:
    response: Response | None
    detail: Any
    if isinstance(exc, ApiError):
        return Response(error_body(exc.error_code, str(exc.detail), exc.fields, **exc.extra), status=exc.status_code)
    if isinstance(exc, LedgerError):
        return Response(error_body(exc.code, exc.detail or str(exc), exc.fields or None), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):  # a body over DATA_UPLOAD_MAX_MEMORY_SIZE (parser, request.body)
        return Response(_too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, exceptions.ValidationError):
        return _invalid(_flatten(exc.detail))
    if isinstance(exc, DjangoValidationError):
        # A model or lookup refused a value (e.g. a malformed pagination cursor): bad input, not a crash.
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return _invalid(_flatten(detail))
    if isinstance(exc, (Http404, exceptions.NotFound)):
        return Response(error_body("not_found", _("Not found.")), status=404)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response = Response(error_body("unauthorized", str(exc.detail)), status=401)
        response["WWW-Authenticate"] = "Api-Key"
        return response
    if isinstance(exc, (PermissionDenied, exceptions.PermissionDenied)):
        detail = getattr(exc, "detail", None) or _("You do not have permission to do this.")
        return Response(error_body("forbidden", str(detail)), status=403)
    if isinstance(exc, exceptions.Throttled):
        response = Response(error_body("rate_limited", str(exc.detail)), status=429)
        if exc.wait is not None:  # type: ignore[attr-defined]  # drf-stubs omit Throttled.wait
            response["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        return response
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body("invalid", str(exc.detail)), status=400)
    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        response.data = error_body(code, str(getattr(exc, "detail", exc)))
    return response


def exception_handler(exc, context):
    response = _response(exc, context)
    if response is not None:
        set_rollback()
    return response


# -- Django-level handlers (requests that never reach a DRF view) ----------------------------------


def bad_request(request, exception=None):
    """handler400: JSON under /api/ (a body over the size limit read before any view: 413), the site's page
    elsewhere."""
    if not request.path.startswith(API_PATH_PREFIX):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(_too_large_body(), status=413)
    return JsonResponse(error_body("invalid", _("The request could not be read.")), status=400)


def page_not_found(request, exception=None):
    """handler404: JSON in the error shape under /api/, the site's 404 page elsewhere."""
    if request.path.startswith(API_PATH_PREFIX):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: JSON under /api/ (integrators parse it), the site's 500 page elsewhere."""
    if request.path.startswith(API_PATH_PREFIX):
        return JsonResponse(error_body("server_error", _("Something went wrong on our side.")), status=500)
    return defaults.server_error(request)
