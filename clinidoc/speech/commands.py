"""CLI commands for recording: `clinidoc record` and `clinidoc recordings list|recover`.

The spool of a recording in progress is encrypted with a key derived from the store passphrase
(Argon2id, the store's KDF parameters, with a salt kept beside the spools); see ``spool_key``.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from pathlib import Path

import click

SPOOL_KDF_NAME = "spool.kdf.json"


def spool_dir(data_dir: Path | str | None) -> Path:
    from clinidoc import config

    folder = config.data_dir(data_dir) / "recordings" / "spool"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def spool_key(folder: Path, passphrase: str) -> bytes:
    """32-byte spool key: Argon2id(passphrase, per-folder salt) with the store's KDF costs.

    (Once the GUI holds the unlocked store, it can pass the store's own key to Recorder instead.)
    """
    from clinidoc.records.store import KdfParams

    sidecar = folder / SPOOL_KDF_NAME
    if sidecar.is_file():
        doc = json.loads(sidecar.read_text())
        salt, params = bytes.fromhex(doc["salt"]), KdfParams(**doc["argon2id"])
    else:
        salt, params = secrets.token_bytes(16), KdfParams()
        tmp = sidecar.with_name(f".{sidecar.name}.tmp")
        tmp.write_text(json.dumps({"salt": salt.hex(), "argon2id": params.__dict__}))
        os.replace(tmp, sidecar)
    return params.derive(passphrase, salt)


def _interrupted_note(folder: Path) -> None:
    from clinidoc.speech.spool import find_interrupted

    found = find_interrupted(folder)
    if found:
        click.echo(f"clinidoc: {len(found)} interrupted recording(s) found: `clinidoc recordings recover` restores them",
                   err=True)


def register(cli: click.Group) -> None:
    from clinidoc.cli import CONTEXT, _registry, clean_errors, data_dir_option
    from clinidoc.records.commands import read_passphrase

    @cli.command("record", context_settings=CONTEXT)
    @click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The WAV to write.")
    @click.option("--seconds", type=float, default=None, help="Stop after this many seconds (default: Enter or Ctrl-C).")
    @click.option("--live", is_flag=True, help="Show the transcript while recording; print it at the end.")
    @click.option("--from-file", "from_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Play an audio file as if it were the microphone (tests, demos).")
    @click.option("--speed", type=float, default=1.0, show_default=True, help="With --from-file: x real time.")
    @click.option("--model", default=None, help="Speech model for --live (default: embedded tiny.en).")
    @click.option("--quiet", is_flag=True, help="No level meter.")
    @data_dir_option
    @clean_errors
    def record(output, seconds, live, from_file, speed, model, quiet, data_dir):
        """Record a dictation to a WAV, crash-safe (encrypted spool fsync'd every 0.5 s)."""
        from clinidoc.speech.recorder import (
            MicrophoneSource,
            Recorder,
            WavFileSource,
            default_input_device,
        )

        folder = spool_dir(data_dir)
        _interrupted_note(folder)
        if from_file is None:
            default_input_device()  # no microphone: fail now, before asking for anything
        key = spool_key(folder, read_passphrase())
        source = WavFileSource(from_file, speed=speed) if from_file is not None else MicrophoneSource()
        transcriber = None
        if live:
            from clinidoc.speech.engine import FasterWhisperEngine
            from clinidoc.speech.live import LiveTranscriber
            from clinidoc.speech.postprocess import default_hotwords

            engine = FasterWhisperEngine(_registry(data_dir).resolve("stt", model))
            shown = [0]

            def show(segments):  # lines that will not change; the GUI shows the provisional ones too
                final = transcriber.final_segments()
                for seg in final[shown[0]:]:
                    click.echo(f"  [{seg.start:7.2f}] {seg.text}")
                shown[0] = len(final)

            transcriber = LiveTranscriber(engine, hotwords=default_hotwords(), on_segments=show)
            transcriber.start()
        rec = Recorder(source, spool_dir=folder, key=key, output=output,
                       listeners=[transcriber.feed] if transcriber else [])
        rec.start()
        how = (f"{seconds:g} s" if seconds is not None else "until the file ends" if from_file is not None
               else "press Enter to stop" if sys.stdin.isatty() else "Ctrl-C to stop")
        click.echo(f"recording ({how})", err=True)
        enter = threading.Event()
        if seconds is None and from_file is None and sys.stdin.isatty():
            threading.Thread(target=lambda: (sys.stdin.readline(), enter.set()), daemon=True).start()
        try:
            last = 0.0
            while not enter.is_set():
                if seconds is not None and rec.duration_s >= seconds:
                    break
                if from_file is not None and source.finished:
                    break
                if not quiet and sys.stderr.isatty() and time.monotonic() - last >= 0.5:
                    last = time.monotonic()
                    click.echo(f"\r  {rec.duration_s:7.1f} s   level {rec.level_dbfs:6.1f} dBFS ", nl=False, err=True)
                time.sleep(0.05)
        except KeyboardInterrupt:
            pass
        finally:
            recording = rec.stop()
        if not quiet and sys.stderr.isatty():
            click.echo("", err=True)
        click.echo(f"wrote {recording.output} ({recording.duration_s:.1f} s)")
        if transcriber is not None:
            transcript = transcriber.finish()
            click.echo(f"transcript ({transcriber.stats['tail_s']:.1f} s after stop):\n{transcript.text}")

    @cli.group("recordings", context_settings=CONTEXT)
    def recordings() -> None:
        """Recordings interrupted by a crash, a kill or a power cut."""

    @recordings.command("list", context_settings=CONTEXT)
    @data_dir_option
    @clean_errors
    def recordings_list(data_dir):
        """List interrupted recordings (no passphrase needed)."""
        from clinidoc.speech.spool import find_interrupted

        found = find_interrupted(spool_dir(data_dir))
        if not found:
            click.echo("no interrupted recordings")
        for r in found:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.modified))
            click.echo(f"{r.id}  last written {when}  about {r.approx_seconds:.0f} s")

    @recordings.command("recover", context_settings=CONTEXT)
    @click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Where to write the recovered WAVs (default: the data folder's recordings/).")
    @click.option("--keep-spool", is_flag=True, help="Keep the encrypted spool after writing the WAV.")
    @data_dir_option
    @clean_errors
    def recordings_recover(output_dir, keep_spool, data_dir):
        """Write each interrupted recording out as a WAV (all but at most its last second)."""
        from clinidoc.speech.spool import find_interrupted, read_spool, write_wav

        folder = spool_dir(data_dir)
        found = find_interrupted(folder)
        if not found:
            click.echo("no interrupted recordings")
            return
        key = spool_key(folder, read_passphrase())
        target = output_dir or folder.parent
        for r in found:
            contents = read_spool(r.path, key)
            out = write_wav(target / f"{r.id}.wav", contents.pcm, contents.sample_rate)
            note = f", {contents.dropped_bytes} damaged bytes at the end dropped" if contents.dropped_bytes else ""
            click.echo(f"recovered {out} ({contents.duration_s:.1f} s{note})")
            if not keep_spool:
                r.path.unlink()
