"""``python -m docstage``: the same as the ``pipeline`` command."""

from docstage.cli import main

if __name__ == "__main__":
    main()
