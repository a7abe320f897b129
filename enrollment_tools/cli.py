"""`enroll`: the enrolment CLI for school IT staff."""

import typer

app = typer.Typer(help="Enrol students' faces: roster, consent, photos, erasure, gallery packages.",
                  no_args_is_help=True)
