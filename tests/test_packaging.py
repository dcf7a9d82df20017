"""The wheel installs `newsetl` alone: the Prefect project's flows/ and tasks/ travel inside it, and the command
line still finds them there, not in the checkout."""

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "--target", "wheel", "--directory", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("newsetl-*.whl")
    return built


def test_the_wheel_has_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"newsetl", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "newsetl/_project/flows/ingest.py" in names and "newsetl/_project/tasks/extract.py" in names


def test_an_installed_command_line_imports_the_flows_it_ships(wheel: Path, tmp_path: Path) -> None:
    """Unpacked away from the checkout, with the environment's packages but not its editable path to the checkout
    (python -S reads no .pth file)."""
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    script = (
        "import sys; sys.path[:] = [sys.argv[1], *[p for p in sys.path if p], sys.argv[2]]\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('flows') is None and importlib.util.find_spec('tasks') is None\n"
        "import newsetl.cli, flows.ingest, tasks.extract\n"
        "print(flows.ingest.__file__, tasks.extract.__file__)"
    )
    site = sysconfig.get_paths()["purelib"]
    done = subprocess.run(
        [sys.executable, "-S", "-c", script, str(tmp_path / "site"), site],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shipped = str(tmp_path / "site" / "newsetl" / "_project")
    assert [path.startswith(shipped) for path in done.stdout.split()] == [True, True]
