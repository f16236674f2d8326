"""Badges: configuration with image uploads (admin scope), a member's badge wall (pos scope; the signed-in
member's own under `/me/`) and grants by hand (admin scope)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from campaigns.api.challenges import MEMBER_NOT_FOUND, TAGS_CONFIG, TAGS_MEMBERS, _by_code, campaign_error
from campaigns.models import Badge, BadgeAward
from campaigns.services.badges import (
    badge_create,
    badge_delete,
    badge_grant,
    badge_update,
    badges_with_holders,
    member_badges_get,
)
from campaigns.services.common import CampaignInvalid
from loyalty.api.auth import HasAdminScope
from loyalty.api.base import (
    LOYALTY_ID_PARAMETER,
    NUMBERED_PAGE_PARAMETERS,
    SLUG_PATTERN,
    AdminApi,
    MemberSessionApi,
    PagePagination,
    PosApi,
    member_by_loyalty_id,
    paginated,
)
from loyalty.api.errors import ErrorSerializer
from loyalty.models import Tier

MAX_IMAGE_BYTES = 5 * 1024 * 1024

CODE_PARAMETER = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=SLUG_PATTERN, description="The badge's code."
)
NOT_FOUND = OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no badge has this code."))


def _absolute(request, image) -> str | None:
    if not image:
        return None
    return request.build_absolute_uri(image.url) if request is not None else image.url


class _ImageUrls(serializers.Serializer):
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    def _badge(self, obj) -> Badge:
        return obj["badge"] if isinstance(obj, dict) else obj

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_image_url(self, obj) -> str | None:
        return _absolute(self.context.get("request"), self._badge(obj).image)

    @extend_schema_field(serializers.URLField(allow_null=True, help_text="At most 400 px."))
    def get_thumbnail_url(self, obj) -> str | None:
        return _absolute(self.context.get("request"), self._badge(obj).thumbnail)


# -- configuration -----------------------------------------------------------------------------------


class BadgeSerializer(_ImageUrls):
    """A badge. Upload `image` with multipart/form-data (JPEG, PNG, GIF or WebP; Pillow checks it and makes a
    400 px thumbnail); anything that is not an image is refused with 422."""

    code = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    image = serializers.ImageField(
        write_only=True, required=False, allow_null=True,
        help_text=f"multipart/form-data only; at most {MAX_IMAGE_BYTES // 1024 // 1024} MB. Null removes it.",
    )
    tier = serializers.SlugRelatedField(
        slug_field="code", queryset=Tier.objects.all(), required=False, allow_null=True, default=None,
        help_text="Tier code: members who reach this tier or a higher one get the badge automatically.",
    )
    active = serializers.BooleanField(required=False, default=True)
    holders = serializers.IntegerField(read_only=True, help_text="Members who hold it.")

    def validate_image(self, image):
        if image is not None and image.size > MAX_IMAGE_BYTES:
            raise serializers.ValidationError(_("The image is larger than 5 MB."))
        return image

    def fields_to_save(self, request) -> dict:
        data = {name: value for name, value in self.validated_data.items() if not self.partial or name in request.data}
        if "image" in data and data["image"] is None:
            data["image"] = ""
        return data


def _representation(request, badge: Badge, status_code: int = status.HTTP_200_OK) -> Response:
    fresh = badges_with_holders().get(pk=badge.pk)
    return Response(BadgeSerializer(fresh, context={"request": request}).data, status=status_code)


class BadgeListCreateApi(AdminApi):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="badges_list", tags=TAGS_CONFIG, summary="All badges", parameters=NUMBERED_PAGE_PARAMETERS,
        responses={
            200: paginated(BadgeSerializer, name="PaginatedBadgeList", counted=True),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such page.")),
        },
    )
    def get(self, request):
        paginator = PagePagination()
        page = paginator.paginate_queryset(badges_with_holders().order_by("name", "id"), request, view=self)
        return paginator.get_paginated_response(BadgeSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="badges_create", tags=TAGS_CONFIG, summary="Add a badge",
        request={"application/json": BadgeSerializer, "multipart/form-data": BadgeSerializer},
        responses={201: BadgeSerializer},
    )
    def post(self, request):
        """A badge with a `tier` is given at once to every member already at that tier or above."""
        serializer = BadgeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            badge = badge_create(**serializer.fields_to_save(request))
        except CampaignInvalid as error:
            raise campaign_error(error) from None
        return _representation(request, badge, status.HTTP_201_CREATED)


class BadgeDetailApi(AdminApi):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(operation_id="badges_retrieve", tags=TAGS_CONFIG, summary="A badge", parameters=[CODE_PARAMETER],
                   responses={200: BadgeSerializer, 404: NOT_FOUND})
    def get(self, request, code: str):
        return _representation(request, _by_code(Badge.objects, code))

    @extend_schema(
        operation_id="badges_partial_update", tags=TAGS_CONFIG, summary="Change a badge",
        parameters=[CODE_PARAMETER],
        request={"application/json": BadgeSerializer, "multipart/form-data": BadgeSerializer},
        responses={200: BadgeSerializer, 404: NOT_FOUND},
    )
    def patch(self, request, code: str):
        badge = _by_code(Badge.objects, code)
        serializer = BadgeSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            badge = badge_update(badge=badge, **serializer.fields_to_save(request))
        except CampaignInvalid as error:
            raise campaign_error(error) from None
        return _representation(request, badge)

    @extend_schema(
        operation_id="badges_destroy", tags=TAGS_CONFIG,
        summary="Delete a badge; one that is held or used is deactivated instead",
        parameters=[CODE_PARAMETER],
        responses={
            204: OpenApiResponse(description=gettext_lazy("Deleted.")),
            200: OpenApiResponse(BadgeSerializer, description=gettext_lazy(
                "Members hold it, or a challenge or reward refers to it: deactivated (`active: false`)."
            )),
            404: NOT_FOUND,
        },
    )
    def delete(self, request, code: str):
        badge = _by_code(Badge.objects, code)
        if badge_delete(badge=badge):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return _representation(request, badge)


# -- a member's badges ---------------------------------------------------------------------------------


class MemberBadgeSerializer(_ImageUrls):
    code = serializers.CharField(source="badge.code")
    name = serializers.CharField(source="badge.name")
    description = serializers.CharField(source="badge.description")
    earned_at = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DateTimeField(allow_null=True, help_text="Null while the badge is locked."))
    def get_earned_at(self, item: dict):
        award = item["award"]
        return serializers.DateTimeField().to_representation(award.awarded_at) if award else None


class MemberBadgeListSerializer(serializers.Serializer):
    results = MemberBadgeSerializer(many=True)


def _member_badges(request, member) -> Response:
    items = member_badges_get(member=member)
    return Response(MemberBadgeListSerializer({"results": items}, context={"request": request}).data)


class MemberBadgeListCreateApi(PosApi):
    def get_permissions(self):
        if self.request.method == "POST":
            return [HasAdminScope()]
        return super().get_permissions()

    class InputSerializer(serializers.Serializer):
        badge = serializers.SlugField(max_length=50, help_text="The badge's code.")
        reason = serializers.CharField(max_length=255, help_text="Why; shown to the member with the badge.")

        def validate_badge(self, value: str) -> Badge:
            badge = Badge.objects.filter(code=value).first()
            if badge is None:
                raise serializers.ValidationError(_("No badge has this code."))
            return badge

        def validate_reason(self, value: str) -> str:
            if not value.strip():
                raise serializers.ValidationError(_("A reason is required."))
            return value.strip()

    @extend_schema(
        operation_id="members_badges_list", tags=TAGS_MEMBERS, summary="A member's badge wall",
        description="Every active badge (and any the member earned), `earned_at` null while locked; earned first.",
        parameters=[LOYALTY_ID_PARAMETER],
        responses={200: MemberBadgeListSerializer, 404: MEMBER_NOT_FOUND},
    )
    def get(self, request, loyalty_id: str):
        return _member_badges(request, member_by_loyalty_id(request, loyalty_id))

    @extend_schema(
        operation_id="members_badges_create", tags=TAGS_MEMBERS, summary="Grant a badge by hand (admin scope)",
        parameters=[LOYALTY_ID_PARAMETER], request=InputSerializer,
        responses={
            201: MemberBadgeSerializer,
            200: OpenApiResponse(MemberBadgeSerializer, description=gettext_lazy(
                "The member held the badge already: nothing changed."
            )),
            404: MEMBER_NOT_FOUND,
            422: OpenApiResponse(ErrorSerializer, description=gettext_lazy(
                "`invalid`: unknown or inactive badge, no reason, or a closed member."
            )),
        },
    )
    def post(self, request, loyalty_id: str):
        member = member_by_loyalty_id(request, loyalty_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            award, created = badge_grant(member=member, badge=serializer.validated_data["badge"],
                                         reason=serializer.validated_data["reason"], staff_user=None)
        except CampaignInvalid as error:
            raise campaign_error(error) from None
        award = BadgeAward.objects.select_related("badge").get(pk=award.pk)
        data = MemberBadgeSerializer({"badge": award.badge, "award": award}, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MeBadgeListApi(MemberSessionApi):
    @extend_schema(operation_id="me_badges_list", tags=["me"], summary="My badge wall",
                   responses={200: MemberBadgeListSerializer})
    def get(self, request):
        return _member_badges(request, self.member())

