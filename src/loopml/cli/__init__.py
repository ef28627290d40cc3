"""The `loopml` command line (Typer + Rich). Heavy modules load inside commands, not here."""
