"""What this machine offers for local inference: CPU features, cores, RAM, and GPUs with their VRAM.

One home for hardware facts, used by the context budget, `clinidoc doctor` and the first-run model
recommendation. Detection never raises and never touches the network: a fact it cannot read is None.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field

# The instruction sets llama.cpp and CTranslate2 care about; AMX is listed because some VMs forbid it.
CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "amx_int8", "neon")


@dataclass(frozen=True)
class Gpu:
    name: str
    vram_total: int | None  # bytes
    vram_free: int | None
    backend: str  # "cuda", "metal", ...


@dataclass(frozen=True)
class Hardware:
    system: str
    machine: str
    cpu_name: str
    cores: int
    cpu_features: tuple[str, ...]
    ram_total: int | None
    ram_available: int | None
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)
    gpu_offload_build: bool = False  # the installed llama.cpp can put layers on a GPU

    @property
    def vram_free(self) -> int:
        return max((g.vram_free or 0 for g in self.gpus), default=0)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["vram_free"] = self.vram_free
        return d


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts:
                    out[key] = int(parts[0]) * 1024
    except OSError:
        pass
    return out


def ram_bytes() -> tuple[int | None, int | None]:
    """(total, available) in bytes."""
    info = _meminfo()
    if info:
        return info.get("MemTotal"), info.get("MemAvailable")
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return page * os.sysconf("SC_PHYS_PAGES"), page * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None, None


def _cpu() -> tuple[str, tuple[str, ...]]:
    flags: set[str] = set()
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        try:
            import cpuinfo  # py-cpuinfo: macOS and Windows

            data = cpuinfo.get_cpu_info()
            name = data.get("brand_raw", name)
            flags = set(data.get("flags", []))
        except Exception:
            pass
    if "asimd" in flags:
        flags.add("neon")
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        flags.add("neon")
    return name, tuple(f for f in CPU_FEATURES if f in flags)


def _nvidia_gpus() -> list[Gpu]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            continue
        try:
            total, free = int(float(parts[1])) << 20, int(float(parts[2])) << 20  # MiB
        except ValueError:
            total = free = None
        gpus.append(Gpu(parts[0], total, free, "cuda"))
    return gpus


def gpu_offload_build() -> bool:
    """True when the installed llama.cpp was built with a GPU backend (CUDA, Metal, Vulkan ...)."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


def detect() -> Hardware:
    name, features = _cpu()
    total, available = ram_bytes()
    gpus = _nvidia_gpus()
    if not gpus and platform.system() == "Darwin" and platform.machine() == "arm64":
        # Apple silicon: unified memory, Metal sees most of RAM
        gpus = [Gpu("Apple GPU (unified memory)", total, available, "metal")]
    return Hardware(
        system=platform.system(),
        machine=platform.machine(),
        cpu_name=name,
        cores=os.cpu_count() or 1,
        cpu_features=features,
        ram_total=total,
        ram_available=available,
        gpus=tuple(gpus),
        gpu_offload_build=gpu_offload_build(),
    )
