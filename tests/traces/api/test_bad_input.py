"""Inputs that once reached the database and failed there (found by the schemathesis run): each is
now a 4xx naming the field, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from traces.models import LanguageModel, Role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slug", ["alp\x00ha", "al/pha", "ÄLPHA", ""])
def test_a_project_that_is_no_slug_does_not_exist(alpha, client_for, slug: str) -> None:
    client = client_for(alpha, Role.OWNER)
    model = client.post(reverse("languagemodel-list"), {"project": slug, "name": "m"}, format="json")
    upload = SimpleUploadedFile("x.jsonl", b"{}\n")
    imported = client.post(reverse("import-list"), {"project": slug, "format": "jsonl", "file": upload})
    for response in (model, imported):
        assert response.status_code == 400 and "project" in response.json()


def test_a_nul_in_the_project_path_is_a_404(alpha, client_for) -> None:
    client = client_for(alpha, Role.OWNER)
    assert client.get("/api/projects/alp%00ha/").status_code == 404
    assert client.get("/api/projects/alp%00ha/evaluate/", {"method": "a", "reference": "b"}).status_code == 404


def test_model_parameters_with_a_nul_are_refused(alpha, client_for) -> None:
    client = client_for(alpha, Role.OWNER)
    body = {"project": "alpha", "name": "m", "default_params": {"stop": ["\x00"]}}
    response = client.post(reverse("languagemodel-list"), body, format="json")
    assert response.status_code == 400 and "NUL" in response.json()["default_params"][0]
    assert not LanguageModel.objects.filter(name="m").exists()


@pytest.mark.parametrize("value", ["1.5", "-3", "0", str(2**63), "1e400", "x"])
@pytest.mark.parametrize(
    ("name", "filter_name"), [("label-list", "trace"), ("label-list", "step"), ("score-list", "trace"), ("trace-list", "run")]
)
def test_id_filters_take_row_ids_only(alpha, client_for, name: str, filter_name: str, value: str) -> None:
    response = client_for(alpha, Role.VIEWER).get(reverse(name), {filter_name: value})
    assert response.status_code == 400 and filter_name in response.json()
