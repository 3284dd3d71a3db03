"""The garbage collector's settings once the server has started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from fleetdeck.memory import YOUNG_THRESHOLD, tune_garbage_collector


@pytest.fixture
def collector_settings() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_settings")
def test_after_start_up_objects_are_frozen_and_young_ones_collected_less_often() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    tune_garbage_collector()
    assert gc.get_freeze_count() > 0  # what start-up left alive is out of the collector's walks
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
