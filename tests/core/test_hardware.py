"""Hardware detection reads this machine without raising, and its facts are plausible."""

from clinidoc import hardware


def test_detect_reports_cores_ram_and_known_cpu_features():
    hw = hardware.detect()
    assert hw.cores >= 1
    assert hw.ram_total and hw.ram_available and 0 < hw.ram_available <= hw.ram_total
    assert set(hw.cpu_features) <= set(hardware.CPU_FEATURES)
    assert hw.vram_free == max((g.vram_free or 0 for g in hw.gpus), default=0)
    assert hw.to_dict()["cores"] == hw.cores


def test_missing_nvidia_smi_means_no_cuda_gpus(monkeypatch):
    monkeypatch.setattr(hardware.shutil, "which", lambda name: None)
    assert hardware._nvidia_gpus() == []


def test_nvidia_smi_output_is_parsed_to_bytes(monkeypatch):
    class Done:
        stdout = "NVIDIA RTX 4060, 8188, 7800\n"

    monkeypatch.setattr(hardware.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(hardware.subprocess, "run", lambda *a, **k: Done())
    (gpu,) = hardware._nvidia_gpus()
    assert gpu.name == "NVIDIA RTX 4060" and gpu.vram_total == 8188 << 20 and gpu.vram_free == 7800 << 20
    assert gpu.backend == "cuda"
