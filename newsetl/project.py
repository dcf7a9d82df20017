"""Where the Prefect project's `flows/` and `tasks/` are imported from.

In a checkout they are the top-level folders that prefect.yaml's entrypoints name (the editable install puts the
checkout on the path). The wheel ships them inside this package, under `newsetl/_project/`, so that installing
newsetl adds no top-level `flows` or `tasks` to anyone's environment; the command line puts that folder on its
own process's path (the processes it starts inherit it) before it imports a flow."""

import sys
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "_project"


def make_flows_importable() -> None:
    """In an installed wheel, let `import flows` and `import tasks` find the ones shipped with newsetl (first,
    whatever other `tasks` package the environment holds)."""
    if SHIPPED.is_dir() and str(SHIPPED) not in sys.path:
        sys.path.insert(0, str(SHIPPED))
