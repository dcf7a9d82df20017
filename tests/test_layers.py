"""Imports go one way: the command line and the watcher use the flows, the flows use the tasks, the tasks use the
library (parsing, cleaning, furniture, near copies, enrichment, storage, settings, schemas), and the library uses
none of them. A change to a lower layer can then be tested without the ones above it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = {"newsetl.cli", "newsetl.__main__", "newsetl.watch", "newsetl.devserver"}


def layer(module: str) -> int:
    """0 the library, 1 the tasks, 2 the flows, 3 the command line and the watcher."""
    if module in ENTRY:
        return 3
    return {"flows": 2, "tasks": 1, "newsetl": 0}[module.split(".")[0]]


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every first-party import in a file, those inside functions too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        found += [(node.lineno, n) for n in names if n.split(".")[0] in ("newsetl", "flows", "tasks")]
    return found


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = []
    for folder in ("newsetl", "flows", "tasks"):
        for path in sorted((ROOT / folder).glob("*.py")):
            module = f"{folder}.{path.stem}".removesuffix(".__init__")
            for line, name in imports(path):
                if layer(name) > layer(module):
                    upward.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert upward == []


def test_the_layers_are_what_the_readme_says() -> None:
    assert layer("newsetl.cli") > layer("flows.ingest") > layer("tasks.dedupe") > layer("newsetl.parse")
    assert imports(ROOT / "flows" / "ingest.py"), "the test would see nothing"


def test_each_tasks_module_is_a_stage_with_its_tasks_alone() -> None:
    """A tasks/ module holds its stage's @task functions (and what Prefect calls them with); the work is in the
    library, where it is tested without Prefect."""
    others = []
    for path in sorted((ROOT / "tasks").glob("*.py")):
        tree = ast.parse(path.read_text())
        tasks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and getattr(d.func, "id", "") == "task" for d in n.decorator_list)]  # fmt: skip
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node not in tasks and not node.name.startswith("_"):
                others.append(f"{path.name}: {node.name}")
            if isinstance(node, ast.ClassDef) and not node.name.endswith(("Error", "OutOfMemory")):
                others.append(f"{path.name}: class {node.name}")
        assert tasks or path.name == "__init__.py", path.name
    assert others == []
