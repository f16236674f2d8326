"""Base classes for the API views: pick one per view by who may call it."""

import hashlib

from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from loyalty.api.auth import ApiKeyAuthentication, HasAdminScope, HasApiKey, IsMember
from loyalty.api.errors import error_body
from loyalty.models import IdempotencyRecord
from members.models import Member

IDEMPOTENCY_HEADER = "Idempotency-Key"
_IN_FLIGHT = 0


class IdempotentMixin:
    """POSTs with an Idempotency-Key: a retry with the same body gets the first response byte for byte;
    the same key with another body gets 409 idempotency_conflict. Keys are scoped to the caller."""

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
        caller = request.headers.get("Authorization", "")
        if not caller and request.user.is_authenticated:
            caller = f"user:{request.user.pk}"
        scope = hashlib.sha256(caller.encode()).hexdigest()[:64]
        fingerprint = request.method.encode() + request.path.encode() + b"\n" + request.body
        request_hash = hashlib.sha256(fingerprint).hexdigest()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    scope=scope, key=key, request_hash=request_hash, status_code=_IN_FLIGHT, response_body=b""
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.get(scope=scope, key=key)
            if existing.request_hash != request_hash or existing.status_code == _IN_FLIGHT:
                detail = (
                    _("A request with this Idempotency-Key is still being processed.")
                    if existing.request_hash == request_hash
                    else _("This Idempotency-Key was used with a different request.")
                )
                return JsonResponse(error_body("idempotency_conflict", detail), status=409)
            return HttpResponse(bytes(existing.response_body), status=existing.status_code,
                                content_type="application/json")
        try:
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()  # not a result: the caller may retry
        else:
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                status_code=response.status_code, response_body=response.content
            )
        return response


class PosApi(IdempotentMixin, APIView):
    """Callable with any live API key (scope pos or admin)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]


class AdminApi(IdempotentMixin, APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasAdminScope]


class MemberSessionApi(IdempotentMixin, APIView):
    """The logged-in member's own data (session cookie + CSRF token)."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsMember]

    def member(self) -> Member:
        return self.request.user.member


def member_by_loyalty_id(loyalty_id: str) -> Member:
    return get_object_or_404(Member, loyalty_id=loyalty_id)


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
