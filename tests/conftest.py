import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.services import postgres_server

settings.register_profile(
    "default",
    max_examples=int(os.environ.get("LEADSCORE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("default")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_MODEL = ROOT / "examples" / "b2b-saas.yaml"


@pytest.fixture
def example_model_path() -> Path:
    return EXAMPLE_MODEL


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    from leadscore.engines.spark import start_session

    session = start_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url
