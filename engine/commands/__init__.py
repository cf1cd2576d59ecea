"""`python -m engine <command>`: the CLI, one module per command (see ``engine.commands.cli``).

The outermost part: may import any other part; other parts never import it.
"""
