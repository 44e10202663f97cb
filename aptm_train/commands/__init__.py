"""One module per `aptm-train` command; each exposes `register(app: typer.Typer)`."""
