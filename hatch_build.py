"""The wheel's build hook: the Prefect project's flows/ and tasks/ go inside the package, as newsetl/_project/, not
as top-level packages of the user's environment (see newsetl/project.py). An editable install needs no copy:
it imports them from the checkout."""

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ProjectFolders(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            build_data["force_include"].update({"flows": "newsetl/_project/flows", "tasks": "newsetl/_project/tasks"})
