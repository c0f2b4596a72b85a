"""The browser fixtures of tests/browser (Debian's chromium through Playwright), for test_hostile_pages."""

from tests.browser.conftest import allow_orm_beside_playwright, artifacts, browser  # noqa: F401
