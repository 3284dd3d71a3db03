"""`temperature`: hardware sensors (hwmon) in degrees Celsius."""

from __future__ import annotations

import psutil


class TemperatureCollector:
    key = "temperature"
    heavy = False

    def collect(self) -> dict[str, object]:
        try:
            chips = psutil.sensors_temperatures()
        except (OSError, AttributeError):  # AttributeError: platform without sensors support
            chips = {}
        sensors = [
            {
                "name": reading.label or chip,
                "value": reading.current,
                "high": reading.high,
                "critical": reading.critical,
            }
            for chip, readings in sorted(chips.items())
            for reading in readings
        ]
        return {"sensors": sensors}
