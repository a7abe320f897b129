"""`central-server`: run the province application."""

import typer

app = typer.Typer(help="The province's central server.", no_args_is_help=True)
