"""Before the province publishes an admission plan, the public pages say so instead of failing."""

from __future__ import annotations


def test_registration_form_without_a_plan_is_a_clear_409(client):
    page = client.get("/tuyen-sinh/dang-ky", headers={"Accept": "text/html"})
    assert page.status_code == 409
    assert "Chưa có kế hoạch tuyển sinh." in page.text
    api = client.get("/tuyen-sinh/dang-ky", headers={"Accept": "application/json"})
    assert api.status_code == 409 and api.json()["detail"] == "Chưa có kế hoạch tuyển sinh."
