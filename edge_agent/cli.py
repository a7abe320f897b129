"""`edge-agent`: the school's service and its tools."""

import typer

app = typer.Typer(help="Edge agent of a school: recognition, attendance, outbox and MQTT link.",
                  no_args_is_help=True)


@app.command()
def demo() -> None:
    """Detect and embed the sample photos that ship in a registry package and print who matches whom."""
    from edge_agent.demo import main

    raise typer.Exit(main())
