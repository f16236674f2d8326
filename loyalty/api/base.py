"""Base classes for the API views: pick one per view by who may call it."""

import functools
import hashlib
import inspect
import re
from typing import cast

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import pagination, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from loyalty.api.auth import ApiKeyAuthentication, HasAdminScope, HasApiKey, IsMember
from loyalty.api.errors import ErrorSerializer, error_body
from loyalty.api.misses import MEMBER_LOOKUP_LIMITED, MEMBER_LOOKUP_MISSES
from loyalty.inputs import MAX_JSON_DEPTH
from loyalty.models import ApiKey
from loyalty.services.idempotency import idempotency_claim, idempotency_record
from members.models import Member, User

IDEMPOTENCY_HEADER = "Idempotency-Key"
class _Replay(Exception):  # noqa: N818 - not an error: the first response, raised out of initial()
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


class IdempotentMixin:
    """POSTs with an Idempotency-Key: a retry with the same body gets the first response byte for byte;
    the same key with another body gets 409 idempotency_conflict. Keys are scoped to the caller (the API key
    or the signed-in user), who is authenticated before anything is replayed: a revoked key replays nothing.

    The request's work and its recorded response commit together (loyalty.services.idempotency): a
    request that dies in flight leaves neither behind, and a concurrent retry waits for the first one."""

    def dispatch(self, request, *args, **kwargs):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if request.method != "POST" or key is None:
            return super().dispatch(request, *args, **kwargs)
        if not key or len(key) > 255:
            return JsonResponse(
                error_body("invalid", _("Idempotency-Key must be 1 to 255 characters."),
                           {IDEMPOTENCY_HEADER: [_("Ensure this value has at most 255 characters.")]}),
                status=422,
            )
        fingerprint = request.method.encode() + request.path.encode() + b"\n" + request.body
        self._idempotency_pending = (key, hashlib.sha256(fingerprint).hexdigest())
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
            claim = getattr(self, "_idempotency_claim", None)
            if claim is not None:  # this request did the work
                if response.status_code >= 500 or response.status_code in (401, 403, 429):
                    transaction.set_rollback(True)  # not a result: nothing of it is kept, the caller may retry
                else:
                    idempotency_record(claim, status=response.status_code, body=response.content)
        return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # type: ignore[misc]  # authentication and permissions first
        pending = getattr(self, "_idempotency_pending", None)
        if pending is None:
            return
        key, request_hash = pending
        caller = f"key:{request.auth.pk}" if isinstance(request.auth, ApiKey) else f"user:{request.user.pk}"
        claim = idempotency_claim(scope=caller, key=key, request_hash=request_hash)
        if claim.replay is not None:
            raise _Replay(*claim.replay)
        self._idempotency_claim = claim

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            response = HttpResponse(exc.body, status=exc.status, content_type="application/json")
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)  # type: ignore[misc]


class ApiAutoSchema(AutoSchema):
    """drf-spectacular schema for our API views.

    - Nested serializers (`MemberCreateApi.InputSerializer`) get components named after their view
      (`MemberCreateInput`), so two views' `InputSerializer`s never collide.
    - POSTs document the Idempotency-Key header.
    - The errors every view of a kind can answer (400 unparsable JSON, 413 a body over the size limit, 401,
      403, 422, and 429 for an API key's look-ups of `{loyalty_id}`) are documented with the error shape
      unless the view declares them.
    """

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False) -> str:
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if inspect.isclass(serializer) else serializer.__class__
        parts = cls.__qualname__.split(".")
        has_own_name = getattr(getattr(cls, "Meta", None), "ref_name", None) is not None
        if len(parts) >= 2 and parts[-2].isidentifier() and not has_own_name:
            prefix = parts[-2].removesuffix("Api")
            patched = "Patched" if name.startswith("Patched") else ""
            name = patched + prefix + name.removeprefix(patched)
        return name

    def get_description(self) -> str:  # type: ignore[override]
        """The handler's docstring, else the view's own one: never a base class's (that is about us, not it)."""
        handler = getattr(self.view, self.method.lower(), None)
        own_doc = type(self.view).__dict__.get("__doc__")
        return inspect.cleandoc(getattr(handler, "__doc__", None) or own_doc or "")

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "POST" and isinstance(self.view, IdempotentMixin):
            parameters.append(IDEMPOTENCY_PARAMETER)
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        defaults: dict[str, str] = {}
        has_body = self.method in ("POST", "PUT", "PATCH")
        if has_body:
            defaults["400"] = _("`invalid`: the body is not valid JSON, or nested more than %(depth)s levels deep.") % {
                "depth": MAX_JSON_DEPTH}
            defaults["413"] = _("`invalid`: the body is larger than %(limit)s bytes (file uploads not counted).") % {
                "limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
            defaults["422"] = _("Validation failed (`invalid`, with `fields`).")
        if self.method == "POST" and isinstance(self.view, IdempotentMixin):
            defaults["409"] = _("`idempotency_conflict`: the Idempotency-Key was used with another request.")
            defaults["422"] = _("Validation failed (`invalid`, with `fields`), also for a bad Idempotency-Key.")
        authenticators = [type(a) for a in self.view.get_authenticators()]
        if authenticators:
            defaults["401"] = _("`unauthorized`: no, bad or revoked credentials.")
        if "{loyalty_id}" in self.path and ApiKeyAuthentication in authenticators:  # member_by_loyalty_id
            defaults["429"] = MEMBER_LOOKUP_LIMITED.description
        permissions = [type(p) for p in self.view.get_permissions()]
        if any(issubclass(p, (HasAdminScope, IsMember)) for p in permissions) or (
            has_body and SessionAuthentication in authenticators
        ):
            defaults["403"] = _("`forbidden`: the key lacks the admin scope, the CSRF token is missing, "
                                "or the signed-in user is not a member.")
        for code, description in defaults.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code]["description"] = description
        return dict(sorted(responses.items()))


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255},
    OpenApiParameter.HEADER,
    description="Makes a retry safe: the same key and body return the first response again.",
)


class PosApi(IdempotentMixin, APIView):
    """Callable with any live API key (scope pos or admin)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    schema = ApiAutoSchema()


class AdminApi(IdempotentMixin, APIView):
    """Callable with an admin-scope API key only (configuration, adjustments)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasAdminScope]
    schema = ApiAutoSchema()


class MemberSessionApi(IdempotentMixin, APIView):
    """The logged-in member's own data (session cookie + CSRF token)."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsMember]
    schema = ApiAutoSchema()

    def member(self) -> Member:
        user = cast(User, self.request.user)  # IsMember: a logged-in user with a member
        return Member.objects.select_related("tier").get(pk=user.member.pk)


LOYALTY_ID_PATTERN = r"^[0-9]{16}$"
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"

LOYALTY_ID_PARAMETER = OpenApiParameter(
    "loyalty_id", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=LOYALTY_ID_PATTERN,
    description="The member's 16-digit loyalty ID (card number).",
)


def member_by_loyalty_id(request, loyalty_id: str) -> Member:
    """The member with this loyalty ID or 404; malformed IDs never reach the database. Unknown IDs count
    against the API key's look-up limit (MEMBER_LOOKUP_MISSES): past it, 429 whether the member exists or not."""
    MEMBER_LOOKUP_MISSES.check(request.auth)
    member = None
    if re.fullmatch(LOYALTY_ID_PATTERN, loyalty_id or ""):
        member = Member.objects.select_related("tier").filter(loyalty_id=loyalty_id).first()
    if member is None:
        MEMBER_LOOKUP_MISSES.record(request.auth)
        raise Http404
    return member


class NewestFirstPagination(pagination.CursorPagination):
    """History lists: stable under inserts and O(page) whatever the history length."""

    ordering = ("-occurred_at", "-id")
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


class PagePagination(pagination.PageNumberPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


def paginate(view: APIView, queryset, serializer_class, paginator_class=PagePagination):
    paginator = paginator_class()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


# -- schema helpers for paginated lists ------------------------------------------------------------

_PAGE_SIZE_PARAMETER = OpenApiParameter(
    "page_size", {"type": "integer", "minimum": 1, "maximum": 200}, OpenApiParameter.QUERY,
    description="Results per page (default 50, at most 200).",
)
CURSOR_PAGE_PARAMETERS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, OpenApiParameter.QUERY,
                     description="Opaque position from a `next`/`previous` link."),
    _PAGE_SIZE_PARAMETER,
]
NUMBERED_PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY,
                     description="Page number (from 1)."),
    _PAGE_SIZE_PARAMETER,
]


@functools.cache
def paginated(serializer_class, *, name: str, counted: bool = False):
    """Schema of `{next, previous, results}` (plus `count` for numbered pages) around `serializer_class`."""
    fields = {
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer_class(many=True),
    }
    if counted:
        fields = {"count": serializers.IntegerField(), **fields}
    return inline_serializer(name=name, fields=fields)
