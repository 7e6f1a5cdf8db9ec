"""The `scheduler` command: Typer commands that parse, call the library and print."""
