"""The Members page in chromium: an owner adds a teammate, changes a role from the row's select
(saved at once by htmx, the record updated beside it), creates a new teammate's account (who sets
a password at the link shown and logs in) and removes a member after confirming; an annotator sees
the list without controls. Screenshots at 1440×900
go to test-artifacts/.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect
from test_trace_viewer import watch

from traces.models import Membership, MembershipChange, Project, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def signed_in(browser: Browser, live_server, username: str, path: str) -> Page:
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.goto(live_server.url + path)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    return page


def test_an_owner_adds_a_teammate_and_changes_their_role(live_server, browser, make_user, artifacts) -> None:
    project = Project.objects.create(name="Reasoning evals", slug="evals")
    for name, role in (("olga", Role.OWNER), ("rui", Role.REVIEWER), ("ann", Role.ANNOTATOR)):
        user = make_user(name, PASSWORD)
        user.email = f"{name}@example.org"
        user.save()
        Membership.objects.create(project=project, user=user, role=role)
    alice = make_user("alice", PASSWORD)
    url = reverse("member-list", args=[project.slug])

    page = signed_in(browser, live_server, "olga", reverse("trace-list", args=[project.slug]))
    problems, dialogs = watch(page)
    page.click("nav >> text=Members")
    expect(page.locator("h1")).to_have_text("Members")
    expect(page.locator("#members tbody tr")).to_have_count(3)
    expect(page.get_by_label("Role of olga")).to_be_disabled()  # the only owner

    page.fill("#id_add-user", "alice")
    page.select_option("#id_add-role", "annotator")
    page.click("#add-member-form button[type=submit]")
    expect(page.locator(".queue-messages")).to_contain_text("alice added to Reasoning evals as Annotator.")
    row = page.locator(f"#member-{alice.pk}")
    expect(row).to_contain_text("alice")
    assert project.role_of(alice) == Role.ANNOTATOR

    row.get_by_label("Role of alice").select_option("reviewer")
    expect(page.locator(f"#member-{alice.pk} .saved")).to_be_visible()
    expect(page.locator("#member-changes .timeline-item").first).to_contain_text(
        "olga changed the role of alice from Annotator to Reviewer"
    )
    assert project.role_of(alice) == Role.REVIEWER
    page.screenshot(path=str(artifacts / "members.png"), full_page=True)

    page.fill("#id_new-username", "bea")
    page.fill("#id_new-email", "bea@example.org")
    page.select_option("#id_new-role", "viewer")
    page.click("#new-account-form button[type=submit]")
    expect(page.locator("#new-account")).to_contain_text("Account created for bea")
    link = page.locator("#set-password-link").input_value()
    assert link.startswith(live_server.url + "/accounts/reset/")
    page.screenshot(path=str(artifacts / "members-new-account.png"), full_page=True)

    # The teammate opens the link, chooses a password and logs in: the project is theirs to see.
    teammate = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    teammate.goto(link)
    expect(teammate.locator("h1")).to_have_text("Choose a password")
    teammate.screenshot(path=str(artifacts / "members-set-password.png"))
    teammate.fill("#id_new_password1", "a long secret for bea 7")
    teammate.fill("#id_new_password2", "a long secret for bea 7")
    teammate.click("button[type=submit]")
    expect(teammate.locator("h1")).to_have_text("Password set")
    teammate.click("text=Log in")
    teammate.fill("#id_username", "bea")
    teammate.fill("#id_password", "a long secret for bea 7")
    teammate.click("button[type=submit]")
    expect(teammate.locator("table")).to_contain_text("Reasoning evals")

    bea = get_user_model().objects.get(username="bea")
    page.goto(live_server.url + url)
    page.locator(f"#member-{bea.pk} summary").click()
    expect(page.locator(f"#member-{bea.pk} .confirm-pop")).to_contain_text("Remove bea from Reasoning evals?")
    page.screenshot(path=str(artifacts / "members-remove.png"))
    page.locator(f"#member-{bea.pk} .confirm-pop button").click()
    expect(page.locator(".queue-messages")).to_contain_text("bea removed from Reasoning evals.")
    expect(page.locator(f"#member-{bea.pk}")).to_have_count(0)
    assert project.role_of(bea) is None
    assert MembershipChange.objects.filter(project=project).count() == 4
    assert problems == [] and dialogs == []

    annotator = signed_in(browser, live_server, "ann", url)
    expect(annotator.locator("#members tbody tr")).to_have_count(4)
    expect(annotator.locator("#add-member-form, #members select, #members .confirm")).to_have_count(0)
    expect(annotator.locator("#member-changes .timeline-item")).to_have_count(4)
    annotator.screenshot(path=str(artifacts / "members-annotator.png"), full_page=True)
