"""Live transcription while recording: speech chunks are transcribed as pauses close them.

    live = LiveTranscriber(engine, hotwords=hot, on_segments=show)   # the engine's model, loaded once
    live.start()
    rec = Recorder(source, ..., listeners=[live.feed]); rec.start(); ...; rec.stop()
    transcript = live.finish()                                       # only the tail is left to do

``feed`` only queues (it is called from the recorder's writer thread, never the audio callback).
A worker thread runs the engine's Silero VAD as the audio arrives (StreamingVad: the same speech spans
as one offline call over the whole recording) and keeps only the audio not yet in a final chunk
(at most about ``engine.chunk_s`` plus the current silence, whatever the length of the recording).

Every window is decoded with the engine's own per-chunk decode (its model, hotwords, re-decode of
broken or too-short windows, rolling prompt), over the chunks the offline engine makes (VAD spans
merged while they end within ``engine.chunk_s`` of the chunk's start):

* provisional: each time a pause (the VAD's 0.5 s) closes an utterance, and every ``partial_every_s``
  while speech runs on without one, the open chunk so far is decoded and shown at once, so words
  appear while the clinician speaks (``min_chunk_s`` / ``idle_close_s`` can batch short utterances);
* final: once no later span can join the chunk, its decode is fixed. When no speech joined it since
  the last provisional decode at a pause (the usual case for the last chunk: people pause before they
  press stop), that decode is reused, not redone. The final segments replace the provisional ones of
  the same audio: windows never straddle a chunk's edge, so a word is neither lost nor doubled.

``finish`` decodes only the tail (the open chunk, if not already decoded) and runs the engine's
whole-transcript clean-up passes over the final chunks: the result is what
``FasterWhisperEngine.transcribe_array`` gives for the same audio (identical in the tests and the bench).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from clinidoc.encounter import Segment, Transcript
from clinidoc.errors import NoSpeech
from clinidoc.progress import CancelToken
from clinidoc.speech import audio as audio_io
from clinidoc.speech import postprocess

SR = audio_io.SAMPLE_RATE
VAD_WINDOW = 512  # Silero's window: the kept audio always starts on this grid, as in an offline run
_END = object()

SegmentsCallback = Callable[[list[Segment]], None]


class StreamingVad:
    """faster-whisper's Silero VAD (``get_speech_timestamps``) computed as the audio arrives, with the
    same result as one offline call over the whole recording.

    The model runs once per new 512-sample window, carrying its LSTM state and the 64-sample context
    from window to window exactly as faster-whisper does within (and across) its batches, so every
    speech probability equals the offline one. The span state machine is faster-whisper's, kept between
    calls (only new windows are visited), and the padding pass is redone over all spans (a short list). Memory: one float per window (20 minutes: 150 kB).
    """

    def __init__(self, chunk_s: float, *, min_silence_ms: int = 500, pad_ms: int = 200, threshold: float = 0.5):
        from faster_whisper.vad import get_vad_model

        self.model = get_vad_model()
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        self.pad = SR * pad_ms / 1000
        self.max_speech = SR * chunk_s - VAD_WINDOW - 2 * self.pad
        self.min_silence = SR * min_silence_ms / 1000
        self.min_silence_at_max = SR * 98 / 1000
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._tail = np.zeros(64, np.float32)
        self._probs: list[np.ndarray] = []
        self._nprobs = 0
        self._rem = np.zeros(0, np.float32)
        self.samples = 0
        # the span state machine after the windows seen so far
        self._state = {"i": 0, "speeches": [], "current": {}, "triggered": False, "temp_end": 0, "prev_end": 0,
                       "next_start": 0}

    def _run_model(self, audio: np.ndarray, h, c, tail):
        b = audio.reshape(-1, VAD_WINDOW)
        ctx = np.concatenate([tail[None, :], b[:-1, -64:]], 0)
        out, h, c = self.model.session.run(None, {"input": np.concatenate([ctx, b], 1), "h": h, "c": c})
        return out.reshape(-1).astype(np.float32), h, c

    def feed(self, audio: np.ndarray) -> None:
        self.samples += audio.size
        buf = np.concatenate([self._rem, audio]) if self._rem.size else audio
        k = (buf.size // VAD_WINDOW) * VAD_WINDOW
        if k:
            probs, self._h, self._c = self._run_model(buf[:k], self._h, self._c, self._tail)
            self._tail = buf[k - 64 : k].copy()
            self._probs.append(probs)
            self._nprobs += probs.size
        self._rem = buf[k:].copy()

    def spans(self, *, final: bool = False) -> tuple[list[tuple[int, int]], int]:
        """(padded speech spans as absolute sample ranges, the length they were computed over).

        Not final: over the complete windows so far (a span still open ends at that length).
        Final: over the whole recording, its last partial window zero-padded, as offline.
        """
        if len(self._probs) > 1:
            self._probs = [np.concatenate(self._probs)]
        probs = self._probs[0] if self._probs else np.zeros(0, np.float32)
        committed = probs.size
        if final:  # offline pads with (512 - len % 512) zeros: always one more window
            last = np.zeros(VAD_WINDOW, np.float32)
            last[: self._rem.size] = self._rem
            extra, _, _ = self._run_model(last, self._h, self._c, self._tail)
            probs = np.concatenate([probs, extra])
            length = self.samples
        else:
            length = committed * VAD_WINDOW
        speeches = self._machine(probs, length, committed)
        return self._padded(speeches, length), length

    def _machine(self, probs: np.ndarray, length: int, committed: int) -> list[dict]:
        """faster_whisper.vad.get_speech_timestamps's loop, resumed from its state after the last window
        already seen (the windows before it never change)."""
        st = self._loop(dict(self._state, speeches=list(self._state["speeches"]), current=dict(self._state["current"])),
                        probs, committed)
        self._state = st
        if probs.size > committed:  # the final, zero-padded window: on a copy
            st = self._loop(dict(st, speeches=list(st["speeches"]), current=dict(st["current"])), probs, probs.size)
        speeches, current = list(st["speeches"]), dict(st["current"])
        if current and length - current["start"] > 0:  # min_speech_duration_ms=0
            current["end"] = length
            speeches.append(current)
        return speeches

    def _loop(self, st: dict, probs: np.ndarray, stop: int) -> dict:
        w = VAD_WINDOW
        thr, neg = self.threshold, self.neg_threshold
        speeches, current, triggered = st["speeches"], st["current"], st["triggered"]
        temp_end, prev_end, next_start = st["temp_end"], st["prev_end"], st["next_start"]
        for i in range(st["i"], stop):
            p = probs[i]
            if p >= thr and temp_end:
                temp_end = 0
                if next_start < prev_end:
                    next_start = w * i
            if p >= thr and not triggered:
                triggered = True
                current["start"] = w * i
                continue
            if triggered and w * i - current["start"] > self.max_speech:
                if prev_end:
                    current["end"] = prev_end
                    speeches.append(current)
                    current = {}
                    if next_start < prev_end:
                        triggered = False
                    else:
                        current["start"] = next_start
                    prev_end = next_start = temp_end = 0
                else:
                    current["end"] = w * i
                    speeches.append(current)
                    current = {}
                    prev_end = next_start = temp_end = 0
                    triggered = False
                    continue
            if p < neg and triggered:
                if not temp_end:
                    temp_end = w * i
                if w * i - temp_end > self.min_silence_at_max:
                    prev_end = temp_end
                if w * i - temp_end < self.min_silence:
                    continue
                current["end"] = temp_end
                if current["end"] - current["start"] > 0:  # min_speech_duration_ms=0
                    speeches.append(current)
                current = {}
                prev_end = next_start = temp_end = 0
                triggered = False
                continue
        return {"i": max(st["i"], stop), "speeches": speeches, "current": current, "triggered": triggered,
                "temp_end": temp_end, "prev_end": prev_end, "next_start": next_start}

    def _padded(self, speeches: list[dict], length: int) -> list[tuple[int, int]]:
        sp = [dict(x) for x in speeches]
        pad = self.pad
        for i, speech in enumerate(sp):
            if i == 0:
                speech["start"] = int(max(0, speech["start"] - pad))
            if i != len(sp) - 1:
                silence = sp[i + 1]["start"] - speech["end"]
                if silence < 2 * pad:
                    speech["end"] += int(silence // 2)
                    sp[i + 1]["start"] = int(max(0, sp[i + 1]["start"] - silence // 2))
                else:
                    speech["end"] = int(min(length, speech["end"] + pad))
                    sp[i + 1]["start"] = int(max(0, sp[i + 1]["start"] - pad))
            else:
                speech["end"] = int(min(length, speech["end"] + pad))
        return [(int(x["start"]), int(x["end"])) for x in sp]


class LiveTranscriber:
    def __init__(
        self,
        engine,
        *,
        hotwords: str | None = None,
        on_segments: SegmentsCallback | None = None,
        cancel: CancelToken | None = None,
        min_chunk_s: float = 0.0,
        idle_close_s: float = 1.0,
        partial_every_s: float = 2.0,
        vad_step_s: float = 0.3,
        source: str = "live recording",
    ):
        self.engine = engine
        self.terms = postprocess.hotword_terms(hotwords)
        self.hotwords = engine._format_hotwords(hotwords)
        self.on_segments = on_segments
        self.cancel = cancel
        self.max_chunk = int(engine.chunk_s * SR)
        self.min_chunk = int(min_chunk_s * SR)
        self.idle_close = int(idle_close_s * SR)
        self.partial_every = int(partial_every_s * SR)
        self.vad_step = int(vad_step_s * SR)
        self.source = source
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._segments: list[Segment] = []
        self._changed = threading.Condition(self._lock)
        self._version = 0  # bumped each time the shown segments change
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._finishing = threading.Event()
        self._error: BaseException | None = None
        self._closed = False
        # worker-thread state
        self._blocks: list[np.ndarray] = []
        self._base = 0  # absolute sample index of the first sample kept
        self._total = 0  # samples received
        self._last_vad = 0
        self._consumed = 0  # VAD spans already in final chunks
        self._svad = StreamingVad(engine.chunk_s)
        self._language: str | None = None
        self._model = None
        self._raw: list[Segment] = []  # final chunks as decoded (the offline engine's segments)
        self._final_shown: list[Segment] = []  # the same, cleaned up for display
        self._cached: tuple[tuple[int, int], list[Segment]] | None = None  # the open chunk's latest decode
        self._prov: list[Segment] = []
        self._prov_upto = 0  # absolute sample up to which the open chunk was shown provisionally
        self._closed_upto = 0  # ... and decoded up to a pause (a candidate final decode)
        self._logged_upto = -1.0
        self.publish_log: list[tuple[float, float]] = []  # (word end in the recording, time.monotonic() first shown)
        self.stats = {"chunks": 0, "provisional_windows": 0, "redecoded_chunks": 0, "decode_s": 0.0,
                      "provisional_s": 0.0, "reused_decodes": 0, "vad_s": 0.0, "max_buffer_s": 0.0, "tail_s": 0.0}

    # -- producer / consumer side (any thread) ---------------------------------------------------------
    def start(self) -> LiveTranscriber:
        self._model = self.engine._load()  # the engine's model: loaded once, shared with offline runs
        self._language = "en" if self._model.model.is_multilingual is False else None
        self._thread = threading.Thread(target=self._run, name="live-transcriber", daemon=True)
        self._thread.start()
        return self

    def feed(self, samples: np.ndarray) -> None:
        """Queue 16 kHz mono audio (int16 or float32). Never blocks."""
        if self._closed or self._done.is_set():
            return
        a = np.asarray(samples)
        a = a.astype(np.float32) / 32768.0 if a.dtype == np.int16 else a.astype(np.float32, copy=True)
        self._q.put_nowait(a.reshape(-1))

    def segments(self) -> list[Segment]:
        """The segments shown so far (final chunks, then the open chunk's provisional ones)."""
        with self._lock:
            return list(self._segments)

    def final_segments(self) -> list[Segment]:
        """The shown segments that will not change any more (final chunks, cleaned up)."""
        with self._lock:
            return list(self._final_shown)

    def partials(self, timeout: float | None = None) -> Iterator[list[Segment]]:
        """Yields the shown segments each time they change (the latest state: a slow reader skips
        intermediate ones, nothing piles up), until the transcription ends or ``timeout`` passes idle."""
        seen = 0
        while True:
            with self._changed:
                if self._version == seen and not self._done.is_set():
                    self._changed.wait(timeout)
                if self._version == seen:
                    return  # ended, or idle for timeout
                seen = self._version
                snapshot = list(self._segments)
            yield snapshot

    def finish(self, timeout: float | None = None) -> Transcript:
        """No more audio: decode the tail and return the whole transcript."""
        if self._thread is None:
            raise RuntimeError("LiveTranscriber.start() was not called")
        self._finishing.set()  # the worker skips provisional work and goes straight to the tail
        if not self._closed:
            self._closed = True
            self._q.put(_END)
        t0 = time.monotonic()
        self._thread.join(timeout)
        self.stats["tail_s"] = round(time.monotonic() - t0, 3)
        if self._thread.is_alive():
            raise TimeoutError("live transcription did not finish in time")
        if self._error is not None:
            raise self._error
        # the offline engine's whole-transcript passes over the final chunks' raw segments
        segments = postprocess.drop_hallucinations([s.model_copy(deep=True) for s in self._raw])
        postprocess.fix_phrases(segments)
        if self.engine.snap_drugs and self.terms:
            postprocess.snap_drug_names(segments, self.terms)
            segments = postprocess.drop_hotword_insertions(segments, self.terms)
        if not segments:
            raise NoSpeech("no speech was recognised in the recording: check the microphone", file=self.source)
        return Transcript(text=" ".join(s.text for s in segments), language=self._language,
                          duration=round(self._total / SR, 2), segments=segments)

    def close(self) -> None:
        """Stop at the next cancel point without decoding the tail; safe to call twice."""
        if self.cancel is None:
            self.cancel = CancelToken()
        self.cancel.cancel()
        if not self._closed:
            self._closed = True
            self._q.put(_END)
        if self._thread is not None:
            self._thread.join()

    # -- worker ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            ending = False
            while not ending:
                try:
                    items = [self._q.get(timeout=0.1)]
                except queue.Empty:
                    items = []
                got = sum(getattr(it, "size", 0) for it in items)
                # catching up after a decode: a VAD step at a time, or 10 s pieces once stopped (bounded buffer)
                limit = 10 * SR if self._finishing.is_set() else self.vad_step
                while got < limit:
                    try:
                        it = self._q.get_nowait()
                    except queue.Empty:
                        break
                    items.append(it)
                    got += getattr(it, "size", 0)
                for it in items:
                    if it is _END:
                        ending = True
                    else:
                        self._blocks.append(it)
                        self._svad.feed(it)
                        self._total += it.size
                if self.cancel:
                    self.cancel.raise_if_cancelled()
                if not ending and self._total - self._last_vad >= self.vad_step:
                    self._last_vad = self._total
                    while self._step(final=False, provisional=not self._finishing.is_set()):
                        pass
            while self._step(final=True):
                pass
        except BaseException as exc:
            self._error = exc
        finally:
            with self._changed:
                self._done.set()
                self._changed.notify_all()

    def _pending(self) -> np.ndarray:
        if len(self._blocks) != 1:
            self._blocks = [np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)]
        buf = self._blocks[0]
        self.stats["max_buffer_s"] = max(self.stats["max_buffer_s"], round(buf.size / SR, 2))
        return buf

    def _advance(self, rel: int) -> None:
        """Forget audio before ``base + rel`` (rounded down to the VAD grid)."""
        target = ((self._base + max(0, rel)) // VAD_WINDOW) * VAD_WINDOW
        if target <= self._base:
            return
        buf = self._pending()
        self._blocks = [buf[target - self._base :]]
        self._base = target

    def _step(self, *, final: bool, provisional: bool = True) -> bool:
        """Decode at most one window; True when one was decoded (another may be ready)."""
        if self.cancel:
            self.cancel.raise_if_cancelled()
        buf = self._pending()
        t0 = time.monotonic()
        spans_abs, length = self._svad.spans(final=final)
        self.stats["vad_s"] += time.monotonic() - t0
        base = self._base
        spans = [(a - base, e - base) for a, e in spans_abs[self._consumed :]]
        length -= base
        if not spans:
            if not final:
                self._advance(length - SR // 2)  # silence: keep only the last half second
            return False
        # the chunk the offline engine makes here: spans merged while they end within chunk_s of its start
        g0 = spans[0][0]
        k = 1
        while k < len(spans) and spans[k][1] - g0 <= self.max_chunk:
            k += 1
        group, rest = spans[:k], spans[k:]

        def is_closed(j: int) -> bool:  # its end will not move: another span follows, or >= 0.2 s of silence
            return final or j < len(spans) - 1 or length - spans[j][1] >= self._svad.pad + VAD_WINDOW

        closed = [sp for j, sp in enumerate(group) if is_closed(j)]
        # complete: every span closed, and no later span can join (a closed one ends past chunk_s, or the
        # open / next one will: a span still open ends at most ~0.55 s before the audio's end)
        later_closed = any(is_closed(k + j) for j in range(len(rest)))
        complete = final or (len(closed) == len(group) and (later_closed or length - 9000 - g0 > self.max_chunk))
        if complete:
            end = group[-1][1]
            self._decode_final(buf, group)
            self._consumed += len(group)
            self._advance(min(end, rest[0][0]) if rest else end)
            return True
        if not provisional:
            return False
        # provisional: the open chunk so far, each time a pause closes an utterance in it ...
        done = self._closed_upto - base
        todo = [sp for sp in closed if sp[1] > done]
        if todo:
            e0 = todo[-1][1]
            ready = e0 - max(todo[0][0], done) >= self.min_chunk or length - e0 >= self.idle_close or bool(rest)
            if ready:
                self._decode_provisional(buf, closed)  # also the chunk's final decode if nothing joins it
                self._closed_upto = base + e0
                self._prov_upto = max(self._prov_upto, base + e0)
                return True
        # ... and every partial_every_s while the speech runs on without a pause
        shown = self._prov_upto - base
        if len(closed) < len(group) and length - max(shown, g0) >= self.partial_every:
            end = min(length, buf.size)
            self._decode_provisional(buf, [(g0, end)])
            self._prov_upto = base + end
            return True
        return False

    def _decode_window(self, audio: np.ndarray, offset: float, speech_s: float, prompt: str | None) -> list[Segment]:
        """One window, decoded as FasterWhisperEngine.transcribe_array decodes a chunk."""
        eng, model = self.engine, self._model
        if self.hotwords:
            segs, broken, info = eng._decode(model, audio, offset, self.hotwords, self._language, self.cancel, (0.0,), prompt)
            segs = postprocess.drop_hotword_insertions(segs, self.terms)
            if broken or eng._too_short(segs, speech_s):
                plain, plain_broken, _ = eng._decode(model, audio, offset, None, self._language, self.cancel, eng.temperatures)
                self.stats["redecoded_chunks"] += 1
                if not plain_broken or eng._word_count(plain) >= eng._word_count(segs):
                    segs = plain
        else:
            segs, _, info = eng._decode(model, audio, offset, None, self._language, self.cancel, eng.temperatures, prompt)
        self._language = self._language or info.language
        return segs

    def _clean(self, segs: list[Segment]) -> list[Segment]:
        """The engine's clean-up passes, on copies (the raw segments stay as decoded)."""
        segs = postprocess.drop_hallucinations([s.model_copy(deep=True) for s in segs])
        postprocess.fix_phrases(segs)
        if self.engine.snap_drugs and self.terms:
            postprocess.snap_drug_names(segs, self.terms)
            segs = postprocess.drop_hotword_insertions(segs, self.terms)
        return segs

    def _prompt(self, segs: list[Segment]) -> str | None:
        words = self.engine.rolling_words
        if not words or not segs:
            return None
        return " ".join(" ".join(s.text for s in segs[-2:]).split()[-words:])

    def _decode_group(self, buf: np.ndarray, group: list[tuple[int, int]]) -> list[Segment]:
        """The group's raw segments; a provisional decode of exactly these spans is reused, not redone."""
        s, e = group[0][0], group[-1][1]
        key = (self._base + s, self._base + e)
        if self._cached is not None and self._cached[0] == key:
            self.stats["reused_decodes"] += 1
            return self._cached[1]
        speech_s = sum(b - a for a, b in group) / SR
        segs = self._decode_window(buf[s:e], (self._base + s) / SR, speech_s, self._prompt(self._raw))
        self._cached = (key, segs)
        return segs

    def _decode_final(self, buf: np.ndarray, group: list[tuple[int, int]]) -> None:
        t0 = time.monotonic()
        segs = self._decode_group(buf, group)
        self._cached = None
        cleaned = self._clean(segs)
        with self._lock:
            self._raw.extend(segs)
            self._final_shown.extend(cleaned)
        # the chunk's final decode replaces its provisional one: the same audio, shown once
        self._prov = []
        self._prov_upto = max(self._prov_upto, self._base + group[-1][1])
        self._closed_upto = max(self._closed_upto, self._base + group[-1][1])
        self.stats["chunks"] += 1
        self.stats["decode_s"] += time.monotonic() - t0
        self._publish()

    def _decode_provisional(self, buf: np.ndarray, closed: list[tuple[int, int]]) -> None:
        """Decode the open chunk up to its last closed utterance, exactly as its final decode would be
        if no more speech joined it (then the final decode is this one, reused: stop costs nothing)."""
        t0 = time.monotonic()
        self._prov = self._clean(self._decode_group(buf, closed))
        self.stats["provisional_windows"] += 1
        self.stats["provisional_s"] += time.monotonic() - t0
        self._publish()

    def _publish(self) -> None:
        now = time.monotonic()
        with self._changed:
            self._segments = self._final_shown + self._prov
            snapshot = list(self._segments)
            self._version += 1
            self._changed.notify_all()
        for seg in snapshot:
            for w in seg.words:
                if w.end > self._logged_upto:
                    self.publish_log.append((w.end, now))
                    self._logged_upto = w.end
        if self.on_segments is not None:
            try:
                self.on_segments(snapshot)
            except Exception:  # a display callback must not stop the transcription
                pass


__all__ = ["LiveTranscriber"]
