"""`clinidoc doctor`: what is installed, what this machine offers, which models fit, whether the store
is healthy, and what to fix. Exit 0 when nothing must be fixed, 1 otherwise.

Every check is local: nothing is downloaded and no patient data is read or printed (the store is only
opened to walk the audit hash chain, and only when a passphrase is given).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import click

from clinidoc import __version__, config

MIN_FREE_DISK = 1 << 30  # the store, recordings and caches need room; below this, say so

# (distribution, import name) of the parts that do the work, in the order they are printed
KEY_PACKAGES = (
    ("faster-whisper", "faster_whisper"),
    ("ctranslate2", "ctranslate2"),
    ("llama_cpp_python", "llama_cpp"),
    ("onnxruntime", "onnxruntime"),
    ("rapidocr", "rapidocr"),
    ("pydicom", "pydicom"),
    ("neurokit2", "neurokit2"),
    ("sqlcipher3-binary", "sqlcipher3"),
    ("PySide6_Essentials", "PySide6"),
    ("numpy", "numpy"),
)

# llama.cpp's system-info flags and the CPU feature (clinidoc.hardware.CPU_FEATURES) each one needs
LLAMA_CPU_FLAGS = {"AVX": "avx", "AVX2": "avx2", "FMA": "fma", "F16C": "f16c", "AVX512": "avx512f", "AMX_INT8": "amx_int8"}


def _human(n: float | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def package_version(dist: str, module: str) -> str | None:
    """The installed version, None when the package is missing."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        pass
    if importlib.util.find_spec(module) is None:
        return None
    try:  # installed without metadata (e.g. a bundle built without it): ask the module
        return str(getattr(__import__(module), "__version__", "unknown"))
    except Exception:  # noqa: BLE001 - a package that fails to import is reported by import_failures()
        return "unknown"


def llama_system_info() -> str | None:
    try:
        import llama_cpp

        return llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    except Exception:  # noqa: BLE001 - no llama.cpp, or one that fails to load: import_failures() says which
        return None


def llama_build_fixes(system_info: str | None, cpu_features: tuple[str, ...]) -> list[str]:
    """A llama.cpp built for instructions this CPU lacks crashes mid-draft (SIGILL): say so up front."""
    if not system_info or not cpu_features:  # unknown build or unreadable CPU flags: nothing to say
        return []
    missing = [flag for flag, feature in LLAMA_CPU_FLAGS.items()
               if f" {flag} = 1" in f" {system_info}" and feature not in cpu_features]
    if not missing:
        return []
    return [(
        f"llama.cpp was built for {', '.join(missing)}, which this CPU does not offer: drafting will crash. "
        "Rebuild it with the README's CMAKE_ARGS (pip cache remove llama_cpp_python; pip install --force-reinstall "
        "--no-deps llama-cpp-python), or install the clinidoc build for this machine"
    )]


def import_failures() -> dict[str, str]:
    """Every clinidoc module, imported: a broken install or a bundle missing a library shows up here rather
    than as a traceback the first time a command reaches it. {module: "ErrorType: message"}."""
    import pkgutil

    import clinidoc

    failures: dict[str, str] = {}
    gui_ok = importlib.util.find_spec("PySide6") is not None
    for mod in pkgutil.walk_packages(clinidoc.__path__, "clinidoc.", onerror=lambda name: None):
        name = mod.name
        if name.rsplit(".", 1)[-1] == "__main__":  # entry points run on import
            continue
        if name.startswith("clinidoc.gui") and not gui_ok:  # the command line works without Qt
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - ImportError, OSError from a native library ...: all are findings
            failures[name] = f"{exc.__class__.__name__}: {str(exc)[:200]}"
    return failures


def installed() -> dict:
    return {
        "clinidoc": __version__,
        "python": platform.python_version(),
        "frozen": config.frozen(),
        "executable": sys.executable,
        "location": str(config.app_dir() if config.frozen() else Path(__file__).resolve().parent),
        "resources": str(config.resources_dir()),
        "packages": {dist: package_version(dist, module) for dist, module in KEY_PACKAGES},
        "llama_cpp_system_info": llama_system_info(),
        "import_failures": import_failures(),
    }


def model_rows(data_dir: Path) -> list[dict]:
    """The rows `clinidoc models list --json` prints (role, size, SHA-256, GGUF facts and context budget):
    doctor runs that command's own code rather than a second copy of it."""
    from clinidoc.cli import models_list

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        models_list.callback(as_json=True, data_dir=data_dir)
    return json.loads(out.getvalue())


def model_fit(rows: list[dict], ram_available: int | None) -> tuple[list[dict], list[str], list[str]]:
    """Each model with whether its budget fits in the RAM free now; (models, fixes, notes)."""
    fixes: list[str] = []
    notes: list[str] = []
    models = []
    for r in rows:
        m = {k: r.get(k) for k in ("role", "name", "origin", "path", "size_bytes")}
        if "budget" in r:
            b = r["budget"]
            need = b.get("ram_bytes") or (b["weights_bytes"] + b["kv_bytes_total"])
            m.update(n_ctx=b["n_ctx"], kv_cache_type=b["kv_cache_type"], kv_bytes_total=b["kv_bytes_total"],
                     ram_needed=need, offload=b.get("offload", "none"), n_gpu_layers=b["n_gpu_layers"],
                     fits=ram_available is None or need <= ram_available)
        else:  # a speech model: its weights are what it needs
            m.update(ram_needed=r["size_bytes"], fits=ram_available is None or r["size_bytes"] <= ram_available)
        models.append(m)
    for role, what in (("stt", "speech-to-text"), ("llm", "language")):
        of_role = [m for m in models if m["role"] == role]
        if not of_role:
            fixes.append(f"no {what} model found: reinstall clinidoc (the embedded defaults ship with it) "
                         "or put one in the models folder")
        elif not any(m["fits"] for m in of_role):
            fixes.append(f"no {what} model fits in the {_human(ram_available)} of memory free now: close other programs "
                         "or use a smaller model")
        for m in of_role:
            if not m["fits"]:
                notes.append(f"{m['name']} needs {_human(m['ram_needed'])} but {_human(ram_available)} is free now")
    return models, fixes, notes


def store_health(data_dir_arg: Path | None, passphrase: str | None) -> tuple[dict, list[str], list[str]]:
    from clinidoc.records.store import Store, StoreError, WrongPassphrase

    fixes: list[str] = []
    notes: list[str] = []
    info: dict = {"data_dir": None, "exists": False, "writable": False, "store_present": False, "audit": None}
    try:
        folder = config.data_dir(data_dir_arg)
    except OSError as exc:
        info["data_dir"] = str(exc.filename or data_dir_arg or "")
        fixes.append(f"the data folder {info['data_dir']} cannot be created ({exc.strerror or exc}): "
                     "choose another with --data-dir or CLINIDOC_HOME")
        return info, fixes, notes
    info.update(data_dir=str(folder), exists=folder.is_dir())
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
        info["writable"] = True
    except OSError as exc:
        fixes.append(f"the data folder {folder} is not writable ({exc.strerror or exc}): fix its permissions "
                     "or choose another with --data-dir or CLINIDOC_HOME")
    info["store_present"] = Store.exists(folder)
    if not info["store_present"]:
        notes.append("no store yet: the first `clinidoc process` (or the desktop app) creates it")
        return info, fixes, notes
    if passphrase is None:
        notes.append("store not opened: set CLINIDOC_PASSPHRASE or pass --passphrase to verify its audit trail")
        return info, fixes, notes
    try:
        with Store.open(folder, passphrase) as store:
            rep = store.verify_audit()
    except WrongPassphrase:
        info["audit"] = {"ok": None, "error": "wrong passphrase"}
        fixes.append("the passphrase does not open the store (nothing was changed): check CLINIDOC_PASSPHRASE")
        return info, fixes, notes
    except StoreError as exc:
        info["audit"] = {"ok": None, "error": str(exc)}
        fixes.append(f"the store could not be opened: {exc}")
        return info, fixes, notes
    info["audit"] = rep.to_dict()
    if not rep.ok:
        fixes.append(f"the audit trail is broken at event {rep.first_bad_id} ({rep.reason}); {rep.events} events before "
                     "it are intact: keep this store as evidence, restore the last backup, and tell your administrator")
    return info, fixes, notes


def disk(folder: Path) -> tuple[dict, list[str]]:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return {"path": str(folder), "free_bytes": None, "total_bytes": None}, []
    fixes = []
    if usage.free < MIN_FREE_DISK:
        fixes.append(f"only {_human(usage.free)} free on the disk holding {folder}: free at least {_human(MIN_FREE_DISK)}")
    return {"path": str(probe), "free_bytes": usage.free, "total_bytes": usage.total}, fixes


def collect(data_dir: Path | None = None, passphrase: str | None = None) -> dict:
    """The whole report as a JSON-ready dict; `fixes` empty means healthy."""
    from clinidoc.hardware import detect

    fixes: list[str] = []
    notes: list[str] = []
    inst = installed()
    hw = detect()
    fixes += llama_build_fixes(inst["llama_cpp_system_info"], hw.cpu_features)
    for name, error in inst["import_failures"].items():
        fixes.append(f"{name} does not load ({error}): the installation is incomplete; reinstall clinidoc")
    if inst["packages"].get("PySide6_Essentials") is None:
        notes.append("the desktop app needs PySide6: pip install \"clinidoc[gui]\" (the command line works without it)")

    store, store_fixes, store_notes = store_health(data_dir, passphrase)
    fixes += store_fixes
    notes += store_notes
    folder = Path(store["data_dir"]) if store["data_dir"] else Path(data_dir or ".")

    models: list[dict] = []
    if store["writable"]:  # the registry caches file hashes in the data folder
        try:
            models, model_fixes, model_notes = model_fit(model_rows(folder), hw.ram_available)
        except SystemExit:  # models list reported a clinidoc error on stderr
            model_fixes, model_notes = ["the models could not be listed: run `clinidoc models list` for the reason"], []
        fixes += model_fixes
        notes += model_notes

    disk_info, disk_fixes = disk(folder)
    fixes += disk_fixes
    return {
        "installed": inst,
        "hardware": hw.to_dict(),
        "models": models,
        "store": store,
        "disk": disk_info,
        "fixes": fixes,
        "notes": notes,
        "healthy": not fixes,
    }


def render(report: dict) -> str:
    inst, hw, store, dsk = report["installed"], report["hardware"], report["store"], report["disk"]
    lines = ["INSTALLED"]
    how = f"frozen app in {inst['location']}" if inst["frozen"] else f"from {inst['location']}"
    lines.append(f"  clinidoc {inst['clinidoc']} ({how}), Python {inst['python']}")
    lines.append("  " + ", ".join(f"{d} {v or 'MISSING'}" for d, v in inst["packages"].items()))
    n_fail = len(inst["import_failures"])
    lines.append(f"  clinidoc modules: {'all load' if not n_fail else f'{n_fail} fail to load (see below)'}")
    if inst["llama_cpp_system_info"]:
        lines.append(f"  llama.cpp {inst['llama_cpp_system_info'][:160]}")
    lines.append("HARDWARE")
    lines.append(f"  {hw['cpu_name']} ({hw['machine']}, {hw['system']}), {hw['cores']} cores; "
                 f"{' '.join(hw['cpu_features']) or 'no listed CPU features'}")
    lines.append(f"  RAM {_human(hw['ram_available'])} free of {_human(hw['ram_total'])}")
    for g in hw["gpus"]:
        lines.append(f"  GPU {g['name']} ({g['backend']}): {_human(g['vram_free'])} free of {_human(g['vram_total'])}")
    if not hw["gpus"]:
        lines.append("  no GPU reported (CPU inference)")
    lines.append("MODELS")
    for m in report["models"]:
        fit = "fits" if m["fits"] else "DOES NOT FIT"
        line = f"  {m['role']:<4} {m['name']} ({m['origin']}, {_human(m['size_bytes'])})"
        if "n_ctx" in m:
            where = "CPU only" if m["offload"] == "none" else f"{m['offload']} GPU offload"
            line += (f": n_ctx {m['n_ctx']} ({m['kv_cache_type']} KV cache {_human(m['kv_bytes_total'])}), {where}, "
                     f"{_human(m['ram_needed'])} in RAM, {fit}")
        else:
            line += f": {fit}"
        lines.append(line)
    if not report["models"]:
        lines.append("  none listed")
    lines.append("STORE")
    lines.append(f"  data folder {store['data_dir']}: {'exists' if store['exists'] else 'missing'}, "
                 f"{'writable' if store['writable'] else 'NOT writable'}")
    audit = store.get("audit")
    if not store["store_present"]:
        lines.append("  store: none yet")
    elif audit is None:
        lines.append("  store: present, not opened")
    elif audit.get("ok"):
        lines.append(f"  store: present; audit trail intact ({audit['events']} events, head {audit['head_hash'][:16]}...)")
    else:
        lines.append(f"  store: present; {audit.get('error') or 'audit trail BROKEN at event ' + str(audit['first_bad_id'])}")
    lines.append("DISK")
    lines.append(f"  {_human(dsk['free_bytes'])} free of {_human(dsk['total_bytes'])} at {dsk['path']}")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    lines.append("WHAT TO FIX")
    lines += [f"  - {f}" for f in report["fixes"]] or ["  nothing: clinidoc is ready"]
    return "\n".join(lines)


def register(cli: click.Group) -> None:
    from clinidoc.cli import CONTEXT, data_dir_option

    @cli.command("doctor", context_settings=CONTEXT)
    @click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
    @click.option("--passphrase", "ask_passphrase", is_flag=True,
                  help="Open the store and verify its audit hash chain (passphrase from CLINIDOC_PASSPHRASE or a prompt).")
    @data_dir_option
    def doctor(as_json, ask_passphrase, data_dir):
        """What is installed, the hardware, which models fit, store and disk health, and what to fix (exit 1 if anything)."""
        from clinidoc.records.commands import PASSPHRASE_ENV, read_passphrase

        passphrase = os.environ.get(PASSPHRASE_ENV) or None
        if passphrase is None and ask_passphrase:
            passphrase = read_passphrase()
        report = collect(data_dir, passphrase)
        click.echo(json.dumps(report, indent=2) if as_json else render(report))
        sys.exit(0 if report["healthy"] else 1)
