"""One exception handler: every API error is `{code, detail, fields?}` with a 4xx status."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from loyalty.services.ledger import LedgerError


class ApiError(exceptions.APIException):
    """Raise with a contract code: ApiError("order_conflict", "…", status=409, extra={...})."""

    def __init__(self, code: str, detail: str, *, status_code: int = 422, extra: dict | None = None,
                 fields: dict | None = None) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.error_code = code
        self.extra = extra or {}
        self.fields = fields


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


def exception_handler(exc, context):
    if isinstance(exc, ApiError):
        return Response(error_body(exc.error_code, str(exc.detail), exc.fields, **exc.extra), status=exc.status_code)
    if isinstance(exc, LedgerError):
        return Response(error_body(exc.code, exc.detail or str(exc)), status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            error_body("invalid", _("The request is not valid."), _flatten(exc.detail)),
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
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
        return Response(error_body("rate_limited", str(exc.detail)), status=429)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body("invalid", str(exc.detail)), status=400)
    response = drf_exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        response.data = error_body(code, str(getattr(exc, "detail", exc)))
    return response
