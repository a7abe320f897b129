"""`enroll`: the enrolment CLI for school IT staff."""

import typer

from enrollment_tools.capture import capture
from enrollment_tools.consent_cli import consent_app
from enrollment_tools.package import export
from enrollment_tools.photos import photos
from enrollment_tools.removal import remove
from enrollment_tools.roster import roster_app
from enrollment_tools.status import status

app = typer.Typer(help="Đăng ký khuôn mặt học sinh: danh sách, đồng ý, ảnh, xoá dữ liệu, gói ảnh mẫu.",
                  add_completion=False,
                  no_args_is_help=True)
app.add_typer(roster_app, name="roster")
app.add_typer(consent_app, name="consent")
app.command("photos")(photos)
app.command("capture")(capture)
app.command("remove")(remove)
app.command("status")(status)
app.command("export")(export)
