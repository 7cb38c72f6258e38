"""``python -m exporter`` is ``gpu-exporter``."""

from exporter.cli import main

main(prog_name="gpu-exporter")
