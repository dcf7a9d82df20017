"""Prefect's Dask task runner, with failures to reach a scheduler said in terms a newsetl user can act on."""

from prefect_dask import DaskTaskRunner
from prefect_dask.client import PrefectDaskClient

# Seconds to reach a Dask scheduler before the run fails (Dask's default, 30 s, looks like a hang).
CONNECT_TIMEOUT = 10


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at the configured address."""


class NewsetlDaskTaskRunner(DaskTaskRunner):
    """Prefect's `DaskTaskRunner`, whose failure to reach the scheduler names the setting to fix."""

    @property
    def client(self) -> PrefectDaskClient:
        """Connect on first use, as Prefect does; a scheduler without workers is worth a warning, not a hang."""
        if self._client is not None:
            return self._client
        try:
            client = super().client
        except OSError as exc:
            raise SchedulerUnreachable(
                f"no Dask scheduler answers at {self.address} ({exc}): start one "
                "(`dask scheduler`, then `dask worker ADDRESS` on each machine) or fix --dask-address / "
                "NEWSETL_DASK_ADDRESS"
            ) from exc
        if self.address and not client.scheduler_info()["workers"]:
            self.logger.warning(
                "the Dask scheduler at %s has no workers yet: extract batches wait until one joins (`dask worker %s`)",
                self.address,
                self.address,
            )
        return client
