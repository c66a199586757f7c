"""One way into Ray: ``connect()`` starts a fresh local instance (or joins ``RAY_ADDRESS``) and
reuses the connection it has; library code never starts Ray itself."""

from __future__ import annotations

import pytest
import ray

from energy.distributed import NotConnectedError, RaySettings, connect, current, ray_session
from energy.distributed.backend import ray_training
from energy.distributed.tune import TuneSettings, tune

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not ray.is_initialized()  # another module's instance would hide the point


def test_library_code_needs_a_connection(no_ray, tmp_path) -> None:
    with (
        pytest.raises(NotConnectedError, match="Ray is not connected"),
        ray_training(RaySettings()),
    ):
        pass
    profile = tmp_path / "p.yaml"
    profile.write_text("horizon: 24\nfeatures: {horizon: 24}\n")
    with pytest.raises(NotConnectedError):
        tune(profile, tmp_path / "data", tmp_path / "out", TuneSettings(model="xgboost"))
    assert not ray.is_initialized()  # nothing started Ray behind the caller's back


def test_connect_starts_a_local_instance_once_and_the_session_stops_it(no_ray) -> None:
    with ray_session(num_cpus=1, dashboard=False, log_to_driver=False) as info:
        assert info.started_here and info.address == "local" and info.cpus == 1
        again = connect()  # the same connection, not a second instance
        assert not again.started_here and again.nodes == 1
        assert current().address == "local"
        with ray_training(RaySettings()) as (backend, seen):
            assert seen.cpus == 1 and backend.settings.num_workers == 1
    assert not ray.is_initialized()
