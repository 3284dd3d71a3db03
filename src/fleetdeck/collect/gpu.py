"""`gpu`: NVIDIA GPUs through NVML (nvidia-ml-py). Without a driver: `available: false`."""

from __future__ import annotations

import os
import time
from typing import Any

RETRY_SECONDS = 300.0  # a driver installed later is found without restarting fleetdeck
DRIVER = "/proc/driver/nvidia/version"  # absent: no NVIDIA kernel driver, so NVML cannot work


class GpuCollector:
    key = "gpu"
    heavy = False

    def __init__(self) -> None:
        self._nvml: Any = None
        self._next_try = 0.0

    def _init(self) -> bool:
        if self._nvml is not None:
            return True
        if time.monotonic() < self._next_try:
            return False
        self._next_try = time.monotonic() + RETRY_SECONDS
        if not os.path.exists(DRIVER):  # skip importing NVML's bindings for nothing
            return False
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:  # NVMLError or a missing shared library: no usable GPU here
            return False
        self._nvml = pynvml
        return True

    def _read(self, index: int) -> dict[str, object]:
        nv = self._nvml
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        name = nv.nvmlDeviceGetName(handle)
        util = nv.nvmlDeviceGetUtilizationRates(handle)
        mem = nv.nvmlDeviceGetMemoryInfo(handle)
        try:
            power = round(nv.nvmlDeviceGetPowerUsage(handle) / 1000.0, 1)
        except nv.NVMLError:
            power = None
        return {
            "index": index,
            "name": name.decode() if isinstance(name, bytes) else name,
            "vendor": "nvidia",
            "utilization": util.gpu,
            "memoryUsed": mem.used,
            "memoryTotal": mem.total,
            "temperature": float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU)),
            "powerWatts": power,
        }

    def collect(self) -> dict[str, object]:
        if not self._init():
            return {"available": False, "gpus": []}
        try:
            count = self._nvml.nvmlDeviceGetCount()
            return {"available": True, "gpus": [self._read(i) for i in range(count)]}
        except self._nvml.NVMLError:  # driver gone or GPU fell off the bus
            self._nvml = None
            return {"available": False, "gpus": []}
