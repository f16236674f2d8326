"""The programme's branding: name, logo and colours, set in the admin or the API, readable whatever the colours."""

import io

import pytest
from django.urls import reverse
from PIL import Image

from loyalty.branding import contrast_ratio, ink_for
from loyalty.services.program import program_get

pytestmark = pytest.mark.django_db


def png(size=(64, 64), colour=(200, 30, 30)) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "logo.png"
    return buffer


@pytest.mark.parametrize("colour", ["#000000", "#ffffff", "#777777", "#24324a", "#f5c542", "#ff0000", "#00ff00"])
def test_text_on_any_brand_colour_reaches_aa_contrast(colour):
    assert contrast_ratio(colour, ink_for(colour)) >= 4.5


def test_program_api_sets_colours_terms_and_email_switches(admin_api_client):
    response = admin_api_client.patch("/api/v1/program/", {
        "brand_colour": "#0b6b63", "accent_colour": "#1a56c4", "terms": "Be kind.", "welcome_email": False,
    }, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["brand_colour"], body["terms"], body["welcome_email"], body["logo_url"]) == (
        "#0b6b63", "Be kind.", False, None)
    assert program_get().brand_colour == "#0b6b63"


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"brand_colour": "teal"}, "brand_colour"), ({"accent_colour": "#ffff00"}, "accent_colour"),
     ({"accent_colour": "#12345"}, "accent_colour")],
)
def test_program_api_refuses_bad_colours(admin_api_client, changes, field):
    response = admin_api_client.patch("/api/v1/program/", changes, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]
    assert program_get().accent_colour == "#1a56c4"


def test_program_api_takes_a_logo_as_an_image_and_removes_it(admin_api_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = admin_api_client.patch("/api/v1/program/", {"logo": png()}, format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json()["logo_url"].startswith("http://testserver/media/branding/")
    assert program_get().logo
    not_an_image = io.BytesIO(b"<svg onload=alert(1)></svg>")
    not_an_image.name = "logo.png"
    refused = admin_api_client.patch("/api/v1/program/", {"logo": not_an_image}, format="multipart")
    assert refused.status_code == 422 and "logo" in refused.json()["fields"]
    removed = admin_api_client.patch("/api/v1/program/", {"logo": None}, format="json")
    assert removed.status_code == 200 and removed.json()["logo_url"] is None


@pytest.fixture
def staff_client(client):
    from members.models import User

    client.force_login(User.objects.create_superuser(email="boss@example.com", password="correct horse battery"))
    return client


def test_the_admin_saves_branding_and_shows_it_in_its_header(staff_client, settings, tmp_path):
    admin_client = staff_client
    settings.MEDIA_ROOT = tmp_path
    from tests.loyalty.test_admin import PROGRAM_FORM

    program_get()  # the settings row exists from the first read
    form = {**PROGRAM_FORM, "name": "Koffie Club", "brand_colour": "#0b6b63", "logo": png()}
    response = admin_client.post(reverse("admin:loyalty_program_change", args=[1]), form)
    assert response.status_code == 302
    program = program_get()
    assert program.brand_colour == "#0b6b63" and program.logo
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Koffie Club administration" in page and program.logo.url in page and "/branding.css?v=" in page
    too_light = admin_client.post(reverse("admin:loyalty_program_change", args=[1]),
                                  {**form, "logo": "", "accent_colour": "#ffff99"})
    assert too_light.status_code == 200 and "too light for links on white" in too_light.content.decode()
