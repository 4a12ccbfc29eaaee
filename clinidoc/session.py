"""EncounterSession: the live encounter, each stage run as soon as its input arrives.

    session = EncounterSession(engines, patient, template="soap", on_update=show)   # models load here
    session.feed_audio(block)          # from the recorder's writer thread; never blocks
    session.add_image(path)            # read at once by a background worker (OCR, ECG, DICOM)
    session.live_view()                # structured fields + warnings on the transcript so far (ms)
    outcome = session.stop()           # tail, images, extraction, drafting, validation -> PipelineOutcome
    session.resume(); ...; session.stop()   # more audio: earlier recordings are not transcribed again

The stages are the batch pipeline's own functions (``pipeline.read_images`` one file at a time,
``pipeline.extract_note``, ``draft_sections``, ``validate``) in the batch order, so a session over the
same audio and images gives the same structured fields as ``process_encounter``:

* audio -> ``LiveTranscriber`` (the STT engine's model and hotwords, as ``transcribe_inputs`` uses them):
  each speech chunk is decoded while recording; ``stop`` only decodes the tail. Each recording
  (start..stop, resume..stop) is one part; parts are joined on a common clock as several audio files
  are in the batch pipeline (``pipeline._join_transcripts``).
* images -> a ``concurrent.futures`` pool sized to the machine (one worker on <= 2 cores, so OCR and
  the ECG reader don't starve the transcriber); results merged in the order the images were added.
* while recording, every change of the shown transcript re-runs extraction + validation on a
  single background thread (coalesced: only the latest transcript is worked on) and calls ``on_update``.
* the drafting prompts are evaluated into llama.cpp's KV cache while the clinician talks (a low-priority
  thread, at most every ``warm_every_s``): system prompt and encounter context (patient, lab rows, ECG,
  as the images are read) first, byte-identical across sections, then each section's dictated text so
  far; ``LlamaCppBackend.warm`` keeps each prompt's state, so on stop drafting evaluates only what
  changed since (the transcript's tail) and generates.
* drafting streams: ``on_draft`` (constructor or ``stop``) receives ``DraftEvent(section, text_so_far)``
  per generated token and a final ``done`` event per section; ``stop_events()`` is the same as a generator.

Batch (``clinidoc process``, ``pipeline.process_encounter``) is the same object with ``batch=True``: no
recording; ``add_audio_file`` / ``add_transcript_file`` transcribe whole files, ``add_image`` queues the
file, ``stop`` reads the images in order and runs the same extraction, drafting and validation.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clinidoc import __version__, pipeline
from clinidoc.encounter import (
    EncounterResult,
    ImageArtifact,
    Note,
    Patient,
    Provenance,
    Transcript,
    ValidationIssue,
)
from clinidoc.errors import InputError
from clinidoc.progress import CancelToken, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from clinidoc.drafting.draft import DraftCallback

SR = 16000
log = logging.getLogger(__name__)


def __getattr__(name: str):
    if name == "DraftEvent":  # drafting imports stay off the session's import path
        from clinidoc.drafting.draft import DraftEvent

        return DraftEvent
    raise AttributeError(name)


def image_workers(cpus: int | None = None) -> int:
    """Background image readers: 1 on <= 2 cores (the transcriber needs the rest), else up to 4."""
    cpus = cpus or os.cpu_count() or 1
    return 1 if cpus <= 2 else min(4, cpus // 2)


def _lower_priority(nice: int = 5) -> None:
    """Image workers yield the CPU to the live transcriber (Linux: per-thread nice, inherited by the
    threads OCR/ONNX Runtime start from them); elsewhere a no-op."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        pass


@dataclass
class LiveView:
    """What the GUI shows while the clinician talks: fields and warnings on the transcript so far."""

    transcript: Transcript
    note: Note
    warnings: list[ValidationIssue]
    images_done: int
    images_pending: int
    computed_s: float


@dataclass
class _Image:
    path: Path
    added_at: float
    future: Future | None  # None: missing, or (batch) queued for stop()
    errors: list[InputError] = field(default_factory=list)
    missing: bool = False  # the file was not there when added
    seconds: float = 0.0


class EncounterSession:
    def __init__(
        self,
        engines: pipeline.Engines,
        patient: Patient | None = None,
        template: str = "soap",
        *,
        encounter_id: str | None = None,
        on_update: Callable[[LiveView], None] | None = None,
        workers: int | None = None,
        preload_llm: bool | None = None,
        live_options: dict | None = None,
        batch: bool = False,
        prewarm: bool | None = None,
        warm_every_s: float = 2.0,
        on_draft: DraftCallback | None = None,
        sampling=None,
        cancel: CancelToken | None = None,
    ):
        """``batch``: no live recording (whole files through ``add_audio_file``), nothing preloaded or
        warmed in the background: the batch pipeline's stages in its order. ``prewarm`` (default: live
        only) evaluates the drafting prompts into the LLM's KV cache while recording."""
        from clinidoc.drafting.backend import Sampling
        from clinidoc.drafting.templates import load_template

        self.engines = engines
        self.patient = patient
        self.encounter_id = encounter_id
        self.template = load_template(template, engines.registry.data_dir)
        self.on_update = on_update
        self.on_draft = on_draft
        self.batch = batch
        self.sampling = sampling or Sampling()  # seeded and recorded, so the same inputs redraft the same note
        # a provisional decode every 1 s of unbroken speech (LiveTranscriber's default is 2 s): on the
        # dev cases at 1x this takes the word lag p95 from ~3.1 s to ~2.1 s for ~0.15 more CPU RTF
        self.live_options = {"partial_every_s": 1.0, **(live_options or {})}
        # the batch pipeline's hotwords: the same decode (batch: computed when audio comes)
        self._hotwords = None if batch else pipeline._hotwords(patient)
        self.cancel = cancel or CancelToken()
        self._pool = ThreadPoolExecutor(max_workers=workers or image_workers(), thread_name_prefix="session-image",
                                        initializer=_lower_priority)
        self._updater = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-extract")
        self._lock = threading.Lock()
        self._images: list[_Image] = []
        self._parts: list[Transcript] = []  # finished recordings
        self._part_errors: list[InputError] = []
        self._publish_logs: list[list[tuple[float, float]]] = []
        self._live = None
        self._recording = False
        self._update_pending = False
        self._view: LiveView | None = None
        self.live_stats: list[dict] = []
        self.timings: dict[str, float] = {}
        self.result: EncounterResult | None = None
        self._llm_thread = None
        self._stt_use = None
        self._used_stt = not batch
        self._missing_audio: list[InputError] = []
        self._batch_timer = pipeline._Timer()
        self.warm_every_s = warm_every_s
        self.warm_log: list[dict] = []  # one entry per prompt warmed while recording
        self._warm_event = threading.Event()
        self._warm_stop = threading.Event()
        self._warm_idle = threading.Event()  # the warmer has evaluated the prompts of the latest inputs
        self._warm_thread = None
        if not batch:
            self._start_part()  # the speech model first: recording starts with it loaded
        if preload_llm if preload_llm is not None else not batch:
            # the rest of the warm-up (the GGUF model ...) while the clinician talks, not after stop
            self._llm_thread = threading.Thread(target=self._load_llm, name="session-warmup", daemon=True)
            self._llm_thread.start()
        self._prewarm = prewarm if prewarm is not None else not batch
        if self._prewarm:
            self._start_warming()

    # -- recording ---------------------------------------------------------------------------------
    def _load_llm(self) -> None:
        """Warm-up off the stop path, while the clinician talks: the drafting and validation modules
        (the ICD-10 tables import in ~1.5 s), the extractors, the GGUF model, and the model hashes
        provenance records (cached by the registry)."""
        try:
            from clinidoc.drafting.draft import draft_sections  # noqa: F401
            from clinidoc.validation import validate  # noqa: F401

            warm = "Blood pressure 120/80. Assessment: hypertension. Plan: metoprolol 25 mg by mouth twice daily."
            pipeline.extract_note(Transcript(text=warm, language="en"), self.patient, self.template.name)
            self._stt_use = self.engines.stt.model_use()
            _ = self.engines.llm
            pipeline.ecg_method_use()
            pipeline.ocr_model_use(self.engines.registry)
        except Exception:  # whatever failed is done (and reported) again at stop
            log.debug("session warm-up failed", exc_info=True)

    def _start_part(self) -> None:
        from clinidoc.speech.live import LiveTranscriber

        live = LiveTranscriber(self.engines.stt, hotwords=self.hotwords, on_segments=self._on_segments,
                               cancel=self.cancel, source=f"live recording {len(self._parts) + 1}", **self.live_options)
        live.start()  # loads the speech model (once per Engines)
        self._fed = 0  # samples fed to this part
        self._live = live
        self._recording = True

    @property
    def hotwords(self) -> str | None:
        if self._hotwords is None:
            self._hotwords = pipeline._hotwords(self.patient)
        return self._hotwords

    @property
    def recording(self) -> bool:
        return self._recording

    # -- batch inputs ------------------------------------------------------------------------------
    def add_audio_file(self, path: Path | str, *, progress: ProgressCallback = ignore_progress) -> None:
        """A whole recording, transcribed now (the batch decode) as the next part of the encounter."""
        path = Path(path)
        if not path.is_file():
            self._missing_audio.append(InputError("file not found", file=str(path)))
            return
        self._used_stt = True
        with self._batch_timer.stage("transcribe"):
            try:
                self._parts.append(self.engines.stt.transcribe(path, hotwords=self.hotwords, progress=progress,
                                                                cancel=self.cancel))
            except InputError as exc:
                self._part_errors.append(exc)

    def add_transcript_file(self, path: Path | str) -> None:
        """A dialogue or dictation already in words, as the next part of the encounter."""
        from clinidoc.speech.transcript_text import read_transcript_file

        with self._batch_timer.stage("transcribe"):
            try:
                self._parts.append(read_transcript_file(Path(path)))
            except InputError as exc:
                self._part_errors.append(exc)

    @property
    def live(self):
        """The current recording's LiveTranscriber (its stats and publish_log)."""
        return self._live

    def feed_audio(self, samples: np.ndarray) -> None:
        """16 kHz mono int16 or float32 samples; never blocks (the transcriber queues them)."""
        if self._recording:
            self._fed += len(samples)
            self._live.feed(samples)

    def resume(self) -> None:
        """More audio after a stop: a new recording part; everything before it is kept as it is."""
        if self._recording:
            return
        self.result = None
        self._start_part()
        if self._prewarm:
            self._start_warming()

    # -- images ------------------------------------------------------------------------------------
    def add_image(self, path: Path | str) -> None:
        """Queue an image (lab report, ECG, DICOM) for reading now, in the background."""
        path = Path(path)
        item = _Image(path=path, added_at=time.monotonic(), future=None, missing=not path.is_file())
        if not item.missing and not self.batch:  # batch: read by stop(), in order, like the batch pipeline
            item.future = self._pool.submit(self._read_image, item)
        with self._lock:
            self._images.append(item)
        self._schedule_update()

    def _read_image(self, item: _Image) -> pipeline.ImageFindings:
        t0 = time.perf_counter()
        try:
            return pipeline.read_images([item.path], item.errors, ignore_progress)
        finally:
            item.seconds = time.perf_counter() - t0
            self._schedule_update()
            self._warm_event.set()  # its lab rows / ECG join the drafting context

    def images_pending(self) -> int:
        with self._lock:
            return sum(1 for im in self._images if im.future is not None and not im.future.done())

    def wait_images(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for im in list(self._images):
            if im.future is None:
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                im.future.result(left)
            except TimeoutError:
                return False
            except Exception:  # its error is raised again by stop()
                log.debug("image reader failed", exc_info=True)
        return True

    def _merged_images(self, *, wait: bool) -> tuple[pipeline.ImageFindings, list[InputError], list[Path]]:
        """Findings of the images read so far (all of them with wait), in the order they were added."""
        found = pipeline.ImageFindings()
        errors: list[InputError] = []
        missing: list[Path] = []
        with self._lock:
            items = list(self._images)
        for im in items:
            if im.missing:
                missing.append(im.path)
                continue
            if im.future is None:  # batch: not read yet
                continue
            if not wait and not im.future.done():
                continue
            part = im.future.result()
            found.artifacts.extend(part.artifacts)
            found.labs.extend(part.labs)
            found.ecg.extend(part.ecg)
            found.used_ocr = found.used_ocr or part.used_ocr
            errors.extend(im.errors)
        return found, errors, missing

    # -- incremental extraction --------------------------------------------------------------------
    def _on_segments(self, _segments) -> None:  # the transcriber's thread: hand over, return at once
        self._schedule_update()
        self._warm_event.set()

    def _schedule_update(self) -> None:
        with self._lock:
            if self._update_pending or self.on_update is None:
                return
            self._update_pending = True
        try:
            self._updater.submit(self._run_update)
        except RuntimeError:  # shut down
            pass

    def _run_update(self) -> None:
        with self._lock:
            self._update_pending = False
        try:
            view = self.live_view()
        except Exception:  # a half-built transcript must not kill the updater
            log.debug("live extraction failed", exc_info=True)
            return
        if self.on_update is not None:
            try:
                self.on_update(view)
            except Exception:  # a display callback must not break the session
                log.debug("on_update callback failed", exc_info=True)

    def transcript_so_far(self) -> Transcript:
        parts = list(self._parts)
        if self._recording and self._live is not None:
            segs = self._live.segments()
            if segs:
                parts.append(Transcript(text=" ".join(s.text for s in segs), language="en",
                                        duration=segs[-1].end, segments=segs))
        return pipeline._join_transcripts(parts) if parts else Transcript(language="en")

    def live_view(self) -> LiveView:
        """Deterministic extraction + validation on the transcript and images so far (no LLM)."""
        from clinidoc.validation import validate

        t0 = time.perf_counter()
        transcript = self.transcript_so_far()
        found, _, _ = self._merged_images(wait=False)
        note, sources = pipeline.extract_note(transcript, self.patient, self.template.name)
        note.sections = {**{k: sources.get(k, "") for k in pipeline.SOAP_KEYS},
                         **{s.key: sources.get(s.source_key, "") for s in self.template.sections}}
        result = EncounterResult(encounter_id=self.encounter_id, patient=self.patient, transcript=transcript,
                                 images=found.artifacts, labs=found.labs, ecg=found.ecg, note=note,
                                 provenance=Provenance(clinidoc_version=__version__))
        warnings = validate(result, self.patient, transcript.text)
        with self._lock:
            pending = sum(1 for im in self._images if im.future is not None and not im.future.done())
            done = len(self._images) - pending
        view = LiveView(transcript, note, warnings, done, pending, round(time.perf_counter() - t0, 4))
        self._view = view
        return view

    # -- the drafting prompt, evaluated ahead of time ---------------------------------------------------
    def _draft_context(self, found: pipeline.ImageFindings) -> str:
        from clinidoc.drafting.draft import encounter_context

        return encounter_context(self.patient, found.labs, found.ecg)

    def _warm_loop(self) -> None:
        """While recording: evaluate the prompts drafting will send (on the transcript and images so far)
        into the LLM's KV cache, at low priority, at most every warm_every_s; stop() ends it."""
        from clinidoc.drafting.draft import prefix_prompt, section_prompts
        from clinidoc.extraction.sections import split_sections

        _lower_priority(19)  # the idle CPU only: behind the transcriber (0), the image readers (5), other programs
        if self._llm_thread is not None:
            self._llm_thread.join()
        try:
            llm = self.engines.llm
        except Exception:
            log.debug("no LLM to warm", exc_info=True)
            return
        if not hasattr(llm, "warm"):  # a server backend keeps its own cache
            return
        warmed: set[str] = set()

        def yield_now() -> bool:  # stop(), or the transcriber has audio waiting: it goes first
            return self._warm_stop.is_set() or self._transcriber_busy()

        while not self._warm_stop.is_set():
            if not self._warm_event.is_set():
                self._warm_idle.set()
            self._warm_event.wait()
            self._warm_idle.clear()
            self._warm_event.clear()
            if self._warm_stop.is_set():
                break
            if self.images_pending():  # its lab rows / ECG will change the context: warm once it is read
                continue  # (its reader sets the event again)
            interrupted = False
            try:
                found, _, _ = self._merged_images(wait=False)
                context = self._draft_context(found)
                text = self.transcript_so_far().text
                sources = split_sections(text) if text else {}
                prompts = section_prompts(self.template, sources, context)
                if not prompts:  # nothing dictated yet: the shared prefix (system prompt + context)
                    prompts = [prefix_prompt(self.template, context)]
                for messages in prompts:
                    key = repr(messages)
                    if key in warmed:
                        continue
                    while self._transcriber_busy() and not self._warm_stop.wait(0.05):
                        pass
                    if self._warm_stop.is_set():
                        break
                    info = llm.warm(messages, should_stop=yield_now, chunk=16)
                    info["at"] = time.monotonic()
                    self.warm_log.append(info)
                    if not info.get("complete", True):  # interrupted: the rest on the next round
                        self._warm_event.set()
                        interrupted = True
                        break
                    warmed.add(key)
            except Exception:  # warming is an optimisation: drafting evaluates whatever is missing
                log.debug("prompt warm-up failed", exc_info=True)
            self._warm_stop.wait(0.2 if interrupted else self.warm_every_s)
        self._warm_idle.set()

    def wait_warm(self, timeout: float | None = None) -> bool:
        """Until the drafting prompts of the inputs so far are in the KV cache (True), or timeout."""
        if self._warm_thread is None:
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if self._warm_idle.wait(None if left is None else min(left, 0.5)) and not self._warm_event.is_set():
                return True

    def _transcriber_busy(self, behind_s: float = 3.0) -> bool:
        """The live transcriber has more than `behind_s` of audio waiting (it is behind): the warm-up pauses
        until it catches up. Otherwise nice 19 keeps it to idle CPU; a tighter limit (pausing during every
        decode) starved the warm-up on a loaded 2-core machine, where the transcriber takes in audio a VAD
        step at a time and so keeps ~1 s queued most of the time."""
        live = self._live
        if not self._recording or live is None:
            return False
        taken = getattr(live, "_total", None)  # samples the transcriber has taken in
        return taken is not None and self._fed - taken > behind_s * SR

    def _start_warming(self) -> None:
        self._warm_stop.clear()
        self._warm_thread = threading.Thread(target=self._warm_loop, name="session-prefix", daemon=True)
        self._warm_thread.start()
        self._warm_event.set()  # what is known now (the patient's context, earlier parts)

    def _stop_warming(self) -> None:
        self._warm_stop.set()
        self._warm_event.set()
        if self._warm_thread is not None:
            self._warm_thread.join()
            self._warm_thread = None

    # -- stop --------------------------------------------------------------------------------------
    def stop_events(self, *, draft: bool = True, progress: ProgressCallback = ignore_progress):
        """stop() as a generator of DraftEvents (section text as it is generated, then each section's
        final text); the outcome is then ``self.outcome`` (and the generator's return value)."""
        import queue

        events: queue.Queue = queue.Queue()
        done = object()
        box: dict = {}

        def run() -> None:
            try:
                box["outcome"] = self.stop(draft=draft, progress=progress, on_draft=events.put)
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
                box["error"] = exc
            finally:
                events.put(done)

        threading.Thread(target=run, name="session-stop", daemon=True).start()
        while (event := events.get()) is not done:
            yield event
        if "error" in box:
            raise box["error"]
        return box["outcome"]

    def stop(self, *, draft: bool = True, progress: ProgressCallback = ignore_progress,
             on_draft: DraftCallback | None = None) -> pipeline.PipelineOutcome:
        """Finish the tail, wait for the images, extract, draft and validate: the batch stages.
        ``on_draft`` (else the constructor's) receives the drafted sections' text as it is generated."""
        from clinidoc.drafting.draft import draft_sections
        from clinidoc.validation import validate

        on_draft = on_draft or self.on_draft
        timer = self._batch_timer if self.batch else pipeline._Timer()
        stopped = time.perf_counter()
        if self._recording:
            from clinidoc.errors import NoSpeech

            live, self._recording = self._live, False
            with timer.stage("transcribe_tail"):
                try:
                    self._parts.append(live.finish())
                except NoSpeech as exc:
                    self._part_errors.append(exc)
            self._publish_logs.append(list(live.publish_log))
            self.live_stats.append(dict(live.stats))
        if self._llm_thread is not None:  # the warm-up (normally long done)
            with timer.stage("warmup_wait"):
                self._llm_thread.join()
        transcript = pipeline._join_transcripts(self._parts) if self._parts else Transcript(language="en")

        provenance = Provenance(clinidoc_version=__version__)
        if self._used_stt:
            provenance.models.append(self._stt_use or self.engines.stt.model_use())
        if self.batch:  # the queued images, read now in order in this thread (pipeline.read_images)
            with timer.stage("images"):
                image_errors: list[InputError] = []
                found = pipeline.read_images([im.path for im in self._images if not im.missing], image_errors, progress)
            missing = [im.path for im in self._images if im.missing]
        else:
            with timer.stage("images_wait"):
                found, image_errors, missing = self._merged_images(wait=True)
        # the batch pipeline's order: files not found (audio, then images), unreadable recordings, images
        errors: list[InputError] = [*self._missing_audio, *(InputError("file not found", file=str(p)) for p in missing),
                                    *self._part_errors, *image_errors]
        images = found.artifacts
        if found.used_ocr:
            provenance.models.append(pipeline.ocr_model_use(self.engines.registry))
        if found.ecg:
            provenance.models.append(pipeline.ecg_method_use())
        for path in missing:  # listed, as the batch pipeline does, so the document says which could not be used
            images.append(ImageArtifact(file=path.name, kind="unknown", error="file not found"))
        self.cancel.raise_if_cancelled()
        self._stop_warming()  # whatever it evaluated stays in the KV cache / saved states

        with timer.stage("extract"):
            note, sources = pipeline.extract_note(transcript, self.patient, self.template.name)
        if draft and transcript.text:
            llm = self.engines.llm
            stats = getattr(llm, "stats", None)
            before = (stats.prompt_tokens, stats.prompt_reused_tokens, stats.engine_prompt_ms) \
                if hasattr(stats, "prompt_reused_tokens") else None
            with timer.stage("draft"):
                outcome = draft_sections(self.template, sources, llm, sampling=self.sampling, progress=progress,
                                         cancel=self.cancel, context=self._draft_context(found), on_section=on_draft)
            if before is not None:
                self.prompt_stats = {"evaluated_tokens": stats.prompt_tokens - before[0],
                                     "reused_tokens": stats.prompt_reused_tokens - before[1],
                                     "prompt_s": round((stats.engine_prompt_ms - before[2]) / 1000, 3)}
            note.sections = {**{k: sources.get(k, "") for k in pipeline.SOAP_KEYS}, **outcome.sections}
            use = llm.model_use()
            use.params.update(
                {"template": f"{self.template.name}@{self.template.version}", "sampling": self.sampling.__dict__.copy(),
                 "section_origin": outcome.origins(),
                 "context_strategy": outcome.strategies(), "tokens_per_s": round(llm.stats.tokens_per_s, 1)}
            )
            # the model may choose each diagnosis's code among retrieved candidates (large models only)
            from clinidoc.drafting.coding import select_codes

            use.params.update(select_codes(note.diagnoses, llm, cancel=self.cancel))
            provenance.models.append(use)
        else:
            note.sections = {**{k: sources.get(k, "") for k in pipeline.SOAP_KEYS},
                             **{s.key: sources.get(s.source_key, "") for s in self.template.sections}}

        result = EncounterResult(encounter_id=self.encounter_id, patient=self.patient, transcript=transcript,
                                 images=images, labs=found.labs, ecg=found.ecg, note=note, provenance=provenance)
        with timer.stage("validate"):
            result.warnings = validate(result, self.patient, transcript.text)
            image_names = {a.file for a in images}
            for err in errors:
                if Path(err.file or "").name not in image_names:
                    result.warnings.append(ValidationIssue(severity="warning", code="unreadable_input", message=str(err)))
        timings = dict(timer.timings)
        if not self.batch:
            timings["stop_to_result"] = round(time.perf_counter() - stopped, 3)
            # work done while recording (not on the stop path)
            timings["transcribe_live"] = round(sum(s.get("decode_s", 0.0) + s.get("provisional_s", 0.0)
                                                   + s.get("vad_s", 0.0) for s in self.live_stats), 3)
            timings["images_background"] = round(sum(im.seconds for im in self._images), 3)
            timings["prompt_warm_background"] = round(sum(w["seconds"] for w in self.warm_log), 3)
        provenance.timings_s = timings
        self.timings = timings
        self.result = result
        self.outcome = pipeline.PipelineOutcome(result=result, input_errors=errors)
        return self.outcome

    @property
    def publish_logs(self) -> list[list[tuple[float, float]]]:
        """Per finished recording part: (word end in that part's audio, time.monotonic() first shown)."""
        return list(self._publish_logs)

    def close(self) -> None:
        """Drop the session: cancels a running transcription, stops the workers. Safe to call twice."""
        if self._recording and self._live is not None:
            self._recording = False
            self._live.close()
        self.on_update = None
        self._warm_stop.set()
        self._warm_event.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._updater.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> EncounterSession:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def structured_fields(result: EncounterResult) -> dict:
    """The fields live and batch must agree on: medications, vitals, diagnosis codes, allergies, labs, ECG rhythm."""
    note = result.note
    return {
        "medications": sorted(((m.name, m.dose, m.unit, m.route, m.frequency, m.status) for m in note.medications), key=repr),
        "vitals": note.vitals.model_dump(mode="json", exclude={"evidence"}),
        "diagnoses": sorted(d.icd10 or "" for d in note.diagnoses),
        "allergies": sorted(((a.substance, a.reaction) for a in note.allergies), key=repr),
        "labs": [(lab.test, lab.value, lab.flag) for lab in result.labs],
        "ecg": [e.rhythm for e in result.ecg],
    }


def fields_differ(a: EncounterResult, b: EncounterResult) -> dict:
    """{field: (a's, b's)} where the structured fields differ; empty when they match."""
    fa, fb = structured_fields(a), structured_fields(b)
    return {k: (fa[k], fb[k]) for k in fa if fa[k] != fb[k]}


__all__ = ["EncounterSession", "LiveView", "fields_differ", "image_workers", "structured_fields"]
