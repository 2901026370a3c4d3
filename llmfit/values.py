"""Plain values shared by the core: what the machine is."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GpuDevice:
    """One kind of GPU on the machine (identical cards grouped by `count`)."""

    name: str
    vram_gib: float | None
    free_vram_gib: float | None
    backend: str  # "CUDA", "ROCm", "Metal", "SYCL", "Vulkan"
    count: int = 1
    unified_memory: bool = False
    bandwidth_gbps: float | None = None


@dataclass(frozen=True)
class SystemSpec:
    """The machine as detected (or as overridden by the user)."""

    total_ram_gib: float
    available_ram_gib: float
    cpu_cores: int
    cpu_name: str
    gpus: tuple[GpuDevice, ...] = ()
    unified_memory: bool = False
    os: str = "linux"  # "linux", "macos", "windows", ...
    arch: str = "x86_64"  # platform.machine(), normalised: "x86_64" or "arm64"
    # System RAM bandwidth in GB/s where known (Apple unified memory); None: estimate it.
    ram_bandwidth_gbps: float | None = None
    # What the CPU cores together stream (GB/s): measured by a probe, None when not measured.
    cpu_bandwidth_gbps: float | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def primary_gpu(self) -> GpuDevice | None:
        return self.gpus[0] if self.gpus else None

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def gpu_count(self) -> int:
        return sum(g.count for g in self.gpus)

    @property
    def backend(self) -> str:
        """The label of what inference would run on: CUDA, ROCm, Metal, ... or CPU (x86/ARM)."""
        if self.gpus:
            return self.gpus[0].backend
        return "CPU (ARM)" if self.arch in ("arm64", "aarch64") else "CPU (x86)"
