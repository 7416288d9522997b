"""`modelreg`: the model registry's command line for CI/CD pipelines.

It speaks only the REST API under /api/v1/ with a token, so a pipeline needs no database
access and no more rights than its token's user has. Exit codes are documented in
docs/cli.md and defined in modelreg_cli.exit_codes.
"""

__version__ = "0.1.0"
