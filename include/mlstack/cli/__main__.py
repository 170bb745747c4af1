"""``python -m mlstack.cli``: the ``mlstack`` command without its installed script."""

from mlstack.cli import main

main(prog_name="mlstack")
