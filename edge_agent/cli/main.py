"""`edge-agent`: the school's service and its tools."""

import typer

from edge_agent.cli.backup import backup
from edge_agent.cli.embed import embed
from edge_agent.cli.gallery import gallery_app
from edge_agent.cli.recognize import faces, recognize
from edge_agent.cli.service import init, run, status
from edge_agent.cli.teachers import teacher_app

app = typer.Typer(help="Máy điểm danh của trường: nhận diện, điểm danh, hàng đợi và kết nối MQTT.",
                  no_args_is_help=True, add_completion=False)


@app.command()
def demo() -> None:
    """Nhận diện các ảnh mẫu đi kèm gói cài đặt và in ai giống ai (thử nhanh)."""
    # lazy: the demo (and its vision stack) loads only for `edge-agent demo`
    from edge_agent.demo.matches import main

    raise typer.Exit(main())


app.command("embed")(embed)
app.command("recognize")(recognize)
app.command("faces")(faces)
app.command("run")(run)
app.command("status")(status)
app.command("init")(init)
app.command("backup")(backup)
app.add_typer(gallery_app, name="gallery")
app.add_typer(teacher_app, name="teacher")
