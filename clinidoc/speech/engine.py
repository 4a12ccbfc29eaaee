"""Speech engines behind one narrow interface; faster-whisper is the default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from clinidoc.encounter import ModelUse, Segment, Transcript, Word
from clinidoc.errors import NoSpeech
from clinidoc.progress import CancelToken, Progress, ProgressCallback, ignore_progress
from clinidoc.speech import audio as audio_io
from clinidoc.speech import postprocess
from clinidoc.weights import ModelFile


class SpeechEngine(Protocol):
    def transcribe(
        self,
        path: Path,
        *,
        hotwords: str | None = None,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> Transcript: ...

    def model_use(self) -> ModelUse: ...


def _pick_device() -> tuple[str, str]:
    """CUDA float16 when CTranslate2 sees a GPU, else int8 on the CPU."""
    try:
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return "cuda", "float16"
    except Exception:
        pass
    return "cpu", "int8"


class FasterWhisperEngine:
    """faster-whisper (CTranslate2). The model loads once, on first use.

    The recording is cut at pauses (Silero VAD) into chunks of at most ``chunk_s`` seconds, and each
    chunk is decoded on its own, with the hotwords. One bad window (a decoder that stops early or loops,
    which hotwords make more likely) then costs at most that chunk, and a coverage check re-decodes a
    chunk without hotwords when its words are too few for its speech or it loops. The last
    ``rolling_words`` words decoded are the next chunk's prompt (continuity of case and wording).
    The hotwords go to the decoder as a comma list ("lisinopril, metoprolol.") so tiny.en keeps
    punctuation and case. Afterwards decoder loops and hotword names emitted without being heard are
    dropped, and weakly-heard near-misses of the hotword drug names are snapped to the name (the
    heard word kept as ``original``). ``last_stats`` counts chunks, re-decodes and snaps.

    Measured on the 8 dev dictations, tiny.en int8 on 2 threads (bench/bench_stt.py): WER 0.22 -> 0.14,
    drug-name recall 2/25 -> 18/25 with the hint, real-time factor ~0.05, nothing dropped at the end.
    """

    def __init__(
        self,
        model: ModelFile,
        *,
        device: str | None = None,
        compute_type: str | None = None,
        cpu_threads: int | None = None,
        beam_size: int = 5,
        chunk_s: float = 20.0,
        min_words_per_s: float = 1.0,
        temperatures: tuple[float, ...] = (0.0, 0.3, 0.6),
        snap_drugs: bool = True,
        tail_s: float = 1.0,
        hotword_style: str = "comma",
        rolling_words: int = 30,
    ):
        auto_device, auto_type = _pick_device()
        self.model_file = model
        self.device = device or auto_device
        self.compute_type = compute_type or auto_type
        self.cpu_threads = cpu_threads or os.cpu_count() or 2
        self.beam_size = beam_size
        self.chunk_s = chunk_s
        self.min_words_per_s = min_words_per_s
        self.temperatures = tuple(temperatures)
        self.snap_drugs = snap_drugs
        self.tail_s = tail_s
        self.hotword_style = hotword_style
        self.rolling_words = rolling_words
        self._model = None
        self.last_stats: dict = {}  # chunks, redecoded_chunks, snapped_words of the last transcription

    def _load(self):
        if self._model is None:
            from faster_whisper import WhisperModel

            self._model = WhisperModel(
                str(self.model_file.path),
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
                local_files_only=True,  # never reach for a hub
            )
        return self._model

    def params(self) -> dict:
        return {
            "device": self.device,
            "compute_type": self.compute_type,
            "cpu_threads": self.cpu_threads,
            "beam_size": self.beam_size,
            "vad_filter": True,
            "vad_chunk_s": self.chunk_s,
            "min_words_per_s": self.min_words_per_s,
            "temperatures": list(self.temperatures),
            "condition_on_previous_text": False,
            "without_timestamps": True,
            "word_timestamps": True,
            "snap_drugs": self.snap_drugs,
            "hotword_style": self.hotword_style,
            "rolling_words": self.rolling_words,
        }

    def model_use(self) -> ModelUse:
        return ModelUse(
            role="stt", name=self.model_file.name, sha256=self.model_file.sha256,
            backend="faster-whisper", params=self.params(),
        )

    # -- chunking -------------------------------------------------------------------------------

    def speech_chunks(self, samples: np.ndarray) -> list[tuple[int, int, float]]:
        """(start, end, seconds of speech) sample ranges: VAD speech merged up to ``chunk_s`` per chunk."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        opts = VadOptions(min_silence_duration_ms=500, speech_pad_ms=200, max_speech_duration_s=self.chunk_s)
        spans = get_speech_timestamps(samples, opts, sampling_rate=audio_io.SAMPLE_RATE)
        chunks: list[list] = []
        limit = int(self.chunk_s * audio_io.SAMPLE_RATE)
        for sp in spans:
            s, e = int(sp["start"]), int(sp["end"])
            if chunks and e - chunks[-1][0] <= limit:
                chunks[-1][1] = e
                chunks[-1][2] += (e - s) / audio_io.SAMPLE_RATE
            else:
                chunks.append([s, e, (e - s) / audio_io.SAMPLE_RATE])
        return [(s, e, d) for s, e, d in chunks]

    def _decode(self, model, audio: np.ndarray, offset: float, hotwords: str | None, language: str | None,
                cancel, temperatures: tuple[float, ...], prompt: str | None = None) -> tuple[list[Segment], bool, object]:
        """Segments of one chunk, and whether the decode looks broken (a loop, or too little text)."""
        seconds = len(audio) / audio_io.SAMPLE_RATE
        # a decoder loop ("lolololo...") costs at most this many tokens: ~2.5 words/s of dictation is ~5 tokens/s
        max_new = int(16 + 8 * min(seconds, 30.0))
        prompt = self._fit_prompt(model, hotwords, prompt, max_new)
        segs_iter, info = model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=False,  # already cut at speech
            # one window per chunk (<= 30 s): no timestamp tokens to decode and no second window for the
            # chunk's tail; word timestamps still come from the alignment
            without_timestamps=True,
            hotwords=hotwords or None,
            initial_prompt=prompt or None,
            temperature=list(temperatures),
            condition_on_previous_text=False,  # stops one misheard window from snowballing into the next
            max_new_tokens=max_new,
        )
        out: list[Segment] = []
        broken = False
        for seg in segs_iter:  # lazy: each step decodes one window, the natural cancel point
            if cancel:
                cancel.raise_if_cancelled()
            text = seg.text.strip()
            if not text:
                continue
            if seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0:
                continue  # whisper's own no-speech rule, applied per segment
            if seg.compression_ratio > 2.4 or postprocess.has_loop(text):
                broken = True
            words = [
                Word(start=round(w.start + offset, 2), end=round(w.end + offset, 2), word=w.word.strip(),
                     probability=round(w.probability, 3))
                for w in (seg.words or []) if w.word.strip()
            ]
            start = words[0].start if words else round(seg.start + offset, 2)
            end = words[-1].end if words else round(seg.end + offset, 2)
            out.append(Segment(start=start, end=end, text=text, words=words))
            if seconds - seg.end < self.tail_s:
                # the chunk ends at speech: what is left is the VAD pad, where tiny.en invents "Thank you."
                # (a window that stopped early leaves more than this, and is continued as usual)
                break
        return out, broken, info

    @staticmethod
    def _fit_prompt(model, hotwords: str | None, prompt: str | None, max_new: int) -> str | None:
        """Trim the rolling prompt so hotwords + prompt + new tokens fit the decoder's 448-token context."""
        if not prompt:
            return None
        tok = model.hf_tokenizer
        half = model.max_length // 2 - 1  # faster-whisper keeps at most this many of each
        used = 8 + max_new + (min(len(tok.encode(" " + hotwords.strip()).ids), half) if hotwords else 0)
        budget = min(model.max_length - used, half)
        words = prompt.split()
        while words and len(tok.encode(" " + " ".join(words)).ids) > budget:
            words = words[max(1, len(words) // 4):]
        return " ".join(words) or None

    def _format_hotwords(self, hotwords: str | None) -> str | None:
        """The hint as the decoder sees it: a bare word list makes tiny.en drop case and punctuation."""
        if not hotwords or not hotwords.strip():
            return None
        if "," in hotwords or self.hotword_style == "plain":
            return hotwords.strip()
        words = hotwords.split()
        if self.hotword_style == "title":
            return ", ".join(w.capitalize() for w in words) + "."
        return ", ".join(words) + "."

    @staticmethod
    def _word_count(segments: list[Segment]) -> int:
        return sum(len(s.words) if s.words else len(s.text.split()) for s in segments)

    def _too_short(self, segments: list[Segment], speech_s: float) -> bool:
        return speech_s >= 2.0 and self._word_count(segments) < self.min_words_per_s * speech_s

    def transcribe_array(
        self,
        samples: np.ndarray,
        *,
        hotwords: str | None = None,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        source: str = "audio",
    ) -> Transcript:
        sr = audio_io.SAMPLE_RATE
        duration = len(samples) / sr
        chunks = self.speech_chunks(samples)
        if not chunks:
            raise NoSpeech("no speech was found in the recording: check the microphone or the file", file=source)
        model = self._load()
        # clinidoc dictation is English: a multilingual model (base, large-v3) is told so rather than guessing
        language = "en"
        terms = postprocess.hotword_terms(hotwords)
        hotwords = self._format_hotwords(hotwords)
        segments: list[Segment] = []
        redecoded = 0
        for start, end, speech_s in chunks:
            if cancel:
                cancel.raise_if_cancelled()
            offset = start / sr
            audio = samples[start:end]
            prompt = None
            if self.rolling_words and segments:
                prompt = " ".join(" ".join(s.text for s in segments[-2:]).split()[-self.rolling_words :])
            if hotwords:
                # greedy-or-beam at temperature 0 only: a broken hinted decode is redone without the hint,
                # which is cheaper and better than sampling at higher temperatures with the hint still on
                segs, broken, info = self._decode(model, audio, offset, hotwords, language, cancel, (0.0,), prompt)
                segs = postprocess.drop_hotword_insertions(segs, terms)
                if broken or self._too_short(segs, speech_s):
                    plain, plain_broken, _ = self._decode(model, audio, offset, None, language, cancel, self.temperatures)
                    redecoded += 1
                    if not plain_broken or self._word_count(plain) >= self._word_count(segs):
                        segs = plain
            else:
                segs, _, info = self._decode(model, audio, offset, None, language, cancel, self.temperatures, prompt)
            language = language or info.language
            segments.extend(segs)
            progress(Progress("transcribe", min(1.0, end / sr / duration) if duration else None, source))
        segments = postprocess.drop_hallucinations(segments)
        postprocess.fix_phrases(segments)
        snapped = 0
        if self.snap_drugs and terms:
            snapped = postprocess.snap_drug_names(segments, terms)
            segments = postprocess.drop_hotword_insertions(segments, terms)
        self.last_stats = {"chunks": len(chunks), "redecoded_chunks": redecoded, "snapped_words": snapped}
        if not segments:
            raise NoSpeech("no speech was recognised in the recording: check the microphone or the file", file=source)
        return Transcript(
            text=" ".join(s.text for s in segments), language=language, duration=round(duration, 2),
            segments=segments,
        )

    def transcribe(
        self,
        path: Path,
        *,
        hotwords: str | None = None,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> Transcript:
        samples = audio_io.decode(path)
        return self.transcribe_array(samples, hotwords=hotwords, progress=progress, cancel=cancel, source=path.name)
