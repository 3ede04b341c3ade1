"""`python -m growpilot` is the `growpilot` command."""

from growpilot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
