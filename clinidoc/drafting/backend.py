"""LLM backends behind one narrow interface: chat in, schema-constrained JSON text out, streamed."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Protocol

from clinidoc.encounter import ModelUse
from clinidoc.progress import CancelToken

TokenCallback = Callable[[str], None]


@dataclass(frozen=True)
class Sampling:
    """Greedy-ish and seeded, so the same inputs redraft the same note."""

    temperature: float = 0.0
    top_p: float = 1.0
    repeat_penalty: float = 1.15  # tiny models loop without it
    seed: int = 1234
    max_tokens: int = 256


@dataclass
class GenerationStats:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    engine_eval_ms: float = 0.0  # llama.cpp's own measure of time spent generating tokens
    engine_eval_tokens: int = 0
    engine_prompt_ms: float = 0.0  # llama.cpp's own time evaluating prompts
    prompt_reused_tokens: int = 0  # prompt tokens already in the KV cache (warmed prefix or an earlier call)
    warm_calls: int = 0  # prompt prefixes evaluated ahead of time (LlamaCppBackend.warm)
    warm_tokens: int = 0
    warm_seconds: float = 0.0
    per_call: list[dict] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds else 0.0

    @property
    def engine_tokens_per_s(self) -> float:
        return self.engine_eval_tokens / (self.engine_eval_ms / 1000) if self.engine_eval_ms else 0.0


class LlmBackend(Protocol):
    stats: GenerationStats

    def complete_json(
        self,
        messages: list[dict],
        schema: dict,
        *,
        sampling: Sampling = Sampling(),
        on_token: TokenCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def model_use(self) -> ModelUse: ...


class LlamaCppBackend:
    """llama-cpp-python in this process; the model loads once, sized by fit_context()."""

    def __init__(self, model_file, *, n_ctx: int | None = None, n_threads: int | None = None,
                 n_gpu_layers: int | None = None, max_ctx: int | None = None):
        from clinidoc.drafting.budget import fit_context

        self.model_file = model_file
        self.info = model_file.gguf_info()
        self.budget = fit_context(self.info, model_file.size_bytes, wanted_ctx=n_ctx or min(8192, self.info.context_length))
        self.max_ctx = max_ctx  # a ceiling the user set; otherwise memory and the RoPE factor decide
        cores = os.cpu_count() or 2
        # llama.cpp's threads spin-wait at every barrier, so a thread that loses its core stalls the rest:
        # one short of the core count keeps a core for the transcriber and the GUI. Measured on 2 busy
        # cores: generation 5x and prompt evaluation 3.5x faster with 1 thread than with 2.
        self.n_threads = n_threads or max(1, min(cores - 1, 8))
        self.n_threads_batch = n_threads or max(1, cores - 1)
        # Prompt evaluation may take every core when the machine is otherwise idle (measured here: 247 ->
        # 482 tok/s on 2 idle cores); checked just before drafting, never while the transcriber runs.
        self._adaptive_batch = n_threads is None and cores > 1
        self._idle_check: tuple[float, int] = (0.0, self.n_threads_batch)
        self.n_gpu_layers = self.budget.n_gpu_layers if n_gpu_layers is None else n_gpu_layers
        self.stats = GenerationStats()
        self._llm = None
        self._lock = threading.RLock()  # one llama context: warm-ups and completions take turns
        self._states = _StateCache()

    def _load(self):
        if self._llm is None:
            from llama_cpp import Llama

            self._llm = Llama(
                model_path=str(self.model_file.path),
                **self.budget.llama_kwargs(),
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads_batch,
                n_gpu_layers=self.n_gpu_layers,
                type_k=_GGML_TYPES[self.budget.kv_cache_type],
                type_v=_GGML_TYPES[self.budget.kv_cache_type],
                flash_attn=self.budget.kv_cache_type != "f16",  # a quantised V cache needs flash attention
                verbose=False,
            )
        return self._llm

    def count_tokens(self, text: str) -> int:
        return len(self._load().tokenize(text.encode("utf-8"), add_bos=False))

    @property
    def context_tokens(self) -> int:
        return self.budget.n_ctx

    def ensure_context(self, tokens_needed: int) -> bool:
        """Grow the context (past the trained length with YaRN, within memory) to hold `tokens_needed`;
        False when it cannot, and the caller must split its input."""
        from clinidoc.drafting.budget import fit_context

        if tokens_needed <= self.budget.n_ctx:
            return True
        wanted = -(-tokens_needed // 256) * 256
        if self.max_ctx is not None and wanted > self.max_ctx:
            return False
        bigger = fit_context(self.info, self.model_file.size_bytes, wanted_ctx=wanted)
        if bigger.n_ctx < tokens_needed:
            return False
        with self._lock:
            self.budget = bigger
            self._llm = None  # reloads with the larger context on next use
            self._states.clear()  # saved KV states belong to the old context
        return True

    def complete_json(self, messages, schema, *, sampling=Sampling(), on_token=None, cancel=None) -> str:
        with self._lock:
            return self._complete_json(messages, schema, sampling=sampling, on_token=on_token, cancel=cancel)

    def _complete_json(self, messages, schema, *, sampling, on_token, cancel) -> str:
        import llama_cpp

        llm = self._load()
        tokens = self.prompt_tokens(messages)
        if tokens is not None:
            self._restore_longest_prefix(llm, tokens)  # llama-cpp-python then evaluates only the rest
        llm.set_seed(sampling.seed)
        prompt_threads = self._prompt_threads()
        llama_cpp.llama_set_n_threads(llm.ctx, self.n_threads, prompt_threads)
        llama_cpp.llama_perf_context_reset(llm.ctx)
        started = time.perf_counter()
        stream = llm.create_chat_completion(
            messages=messages,
            response_format={"type": "json_object", "schema": schema},  # compiled to a GBNF grammar
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            repeat_penalty=sampling.repeat_penalty,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
            stream=True,
        )
        pieces: list[str] = []
        n_tokens = 0
        for chunk in stream:  # one chunk per token: the cancel point
            if cancel and cancel.cancelled:
                stream.close()
                cancel.raise_if_cancelled()
            piece = chunk["choices"][0]["delta"].get("content") or ""
            if piece:
                n_tokens += 1
                pieces.append(piece)
                if on_token:
                    on_token(piece)
        elapsed = time.perf_counter() - started
        perf = llama_cpp.llama_perf_context(llm.ctx)
        text = "".join(pieces)
        prompt_tokens = perf.n_p_eval
        reused = max(0, len(tokens) - prompt_tokens) if tokens is not None else None
        self.stats.calls += 1
        self.stats.prompt_tokens += prompt_tokens
        self.stats.prompt_reused_tokens += reused or 0
        self.stats.completion_tokens += n_tokens
        self.stats.seconds += elapsed
        self.stats.engine_eval_ms += perf.t_eval_ms
        self.stats.engine_eval_tokens += perf.n_eval
        self.stats.engine_prompt_ms += perf.t_p_eval_ms
        self.stats.per_call.append({
            "prompt_tokens": prompt_tokens, "completion_tokens": n_tokens, "seconds": round(elapsed, 3),
            "prompt_s": round(perf.t_p_eval_ms / 1000, 3), "generate_s": round(perf.t_eval_ms / 1000, 3),
            "prompt_reused_tokens": reused, "prompt_threads": prompt_threads,
        })
        return text

    def _prompt_threads(self) -> int:
        """Threads for this call's prompt evaluation: all cores when the rest of the machine is idle
        (sampled over 50 ms, the answer kept for a few seconds so a section-by-section draft samples
        once), otherwise one short of the core count (see __init__)."""
        if not self._adaptive_batch:
            return self.n_threads_batch
        checked_at, threads = self._idle_check
        now = time.monotonic()
        if now - checked_at > 5.0:
            cores = os.cpu_count() or 1
            busy = busy_cores(0.05)
            threads = cores if busy is not None and busy < 0.5 else self.n_threads_batch
            self._idle_check = (now, threads)
        return threads

    # -- the prompt prefix in the KV cache ---------------------------------------------------------
    # llama-cpp-python keeps the tokens it last evaluated and, on the next call, evaluates only what
    # follows the longest common prefix with them. One context holds one token sequence, so the prompts
    # of several sections (which share system prompt, template and encounter context, then differ) are
    # kept as saved KV states: warm() evaluates a prompt ahead of time (while the clinician talks) and
    # saves its state; complete_json() restores the saved state sharing the longest prefix with its
    # prompt, and only the rest of the prompt is evaluated when the draft is due.

    def prompt_tokens(self, messages: list[dict]) -> list[int] | None:
        """The tokens create_chat_completion will evaluate for `messages` (the model's own chat template
        and tokenizer, asked through its chat handler); None where the handler cannot be asked."""
        from llama_cpp import llama_chat_format

        llm = self._load()
        handler = (llm.chat_handler or llm._chat_handlers.get(llm.chat_format)
                   or llama_chat_format.get_chat_completion_handler(llm.chat_format))
        try:
            handler(llama=_PromptCapture(llm), messages=messages)
        except _CapturedPrompt as got:
            return [int(t) for t in got.tokens]
        except Exception:  # a handler that needs more than the prompt (multimodal ...): no prefix reuse
            return None
        return None

    def warm(self, messages: list[dict], *, should_stop: Callable[[], bool] | None = None,
             chunk: int = 32) -> dict:
        """Evaluate the prompt of `messages` into the KV cache now and keep its state, so that a later
        complete_json() whose prompt starts with the same tokens evaluates only what follows. Evaluates
        `chunk` tokens at a time, checking `should_stop` in between (a stopped warm-up keeps what it did).
        Returns {"tokens", "reused", "evaluated", "seconds", "complete"}."""
        with self._lock:
            started = time.perf_counter()
            llm = self._load()
            tokens = self.prompt_tokens(messages)
            if not tokens:
                return {"tokens": 0, "reused": 0, "evaluated": 0, "seconds": 0.0, "complete": True}
            tokens = tokens[:-1]  # the last token is evaluated with the sampling call (it yields the logits)
            reused = self._restore_longest_prefix(llm, tokens)
            done = reused
            # warm-ups run beside the transcriber: never more than one short of the core count
            import llama_cpp

            llama_cpp.llama_set_n_threads(llm.ctx, self.n_threads, self.n_threads_batch)
            if reused < len(tokens):
                llm.n_tokens = reused
                llm._ctx.kv_cache_seq_rm(-1, reused, -1)
                while done < len(tokens) and not (should_stop and should_stop()):
                    piece = tokens[done : done + chunk]
                    llm.eval(piece)
                    done += len(piece)
                llm._requires_eval = True  # the sampling call re-evaluates its last prompt token
                if done > reused:
                    self._states.put(tuple(tokens[:done]), self._save(llm))
            elapsed = time.perf_counter() - started
            self.stats.warm_calls += 1
            self.stats.warm_tokens += done - reused
            self.stats.warm_seconds += elapsed
            return {"tokens": len(tokens), "reused": reused, "evaluated": done - reused, "seconds": round(elapsed, 3),
                    "complete": done >= len(tokens)}

    def forget_warm_states(self) -> None:
        """Drop the saved prompt states and what the context holds: the next call starts cold."""
        with self._lock:
            self._states.clear()
            if self._llm is not None:
                self._llm.reset()

    def _restore_longest_prefix(self, llm, tokens: list[int]) -> int:
        """Load the saved state sharing the longest prefix with `tokens` when it beats what the context
        holds now; returns how many leading tokens of `tokens` are in the KV cache after."""
        live = _common_prefix(llm._input_ids, tokens)
        key, n = self._states.longest(tokens)
        if key is not None and n > live:
            import llama_cpp

            data = self._states.get(key)
            buf = (ctypes_ubyte_array(len(data))).from_buffer_copy(data)
            if llama_cpp.llama_state_set_data(llm.ctx, buf, len(data)) == len(data):
                llm.input_ids[: len(key)] = key
                llm.n_tokens = len(key)
                llm._requires_eval = True
                return n
            llm.reset()  # a failed restore leaves the context undefined
            return 0
        return live

    @staticmethod
    def _save(llm) -> bytes:
        import llama_cpp

        size = llama_cpp.llama_state_get_size(llm.ctx)
        buf = ctypes_ubyte_array(size)()
        n = llama_cpp.llama_state_get_data(llm.ctx, buf, size)
        return bytes(memoryview(buf)[:n])

    def params(self) -> dict:
        return {
            "n_ctx": self.budget.n_ctx,
            "rope_scaling": self.budget.rope_scaling,
            "rope_factor": self.budget.rope_factor,
            "kv_cache_type": self.budget.kv_cache_type,
            "n_gpu_layers": self.n_gpu_layers,
            "n_threads": self.n_threads,
            "n_threads_batch": self.n_threads_batch,
        }

    def model_use(self) -> ModelUse:
        return ModelUse(role="llm", name=self.model_file.name, sha256=self.model_file.sha256, backend="llama-cpp-python", params=self.params())


_GGML_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 8}


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields), idle


def busy_cores(window_s: float) -> float | None:
    """How many cores' worth of work the whole machine did over `window_s` (Linux /proc/stat);
    None where that cannot be read."""
    a = _cpu_times()
    if a is None:
        return None
    time.sleep(window_s)
    b = _cpu_times()
    if b is None or b[0] == a[0]:
        return None
    total, idle = b[0] - a[0], b[1] - a[1]
    return (total - idle) / total * (os.cpu_count() or 1)


def ctypes_ubyte_array(n: int):
    import ctypes

    return ctypes.c_uint8 * int(n)


def _common_prefix(a, b) -> int:
    n = 0
    for x, y in zip(a, b):
        if int(x) != int(y):
            break
        n += 1
    return n


class _CapturedPrompt(Exception):
    def __init__(self, tokens):
        super().__init__("prompt captured")
        self.tokens = tokens


class _PromptCapture:
    """Stands in for Llama when a chat handler is asked for its prompt: tokenizes with the real model,
    and stops the handler where it would start generating."""

    verbose = False

    def __init__(self, llm):
        self._llm = llm

    def tokenize(self, *args, **kwargs):
        return self._llm.tokenize(*args, **kwargs)

    def create_completion(self, prompt=None, **_):
        raise _CapturedPrompt(prompt)


class _StateCache:
    """Saved llama.cpp context states by the tokens they hold, least recently used dropped past
    `capacity` bytes (a 135M model's state is ~2 MB per 100 tokens; an 8B model's ~13 MB)."""

    def __init__(self, capacity: int = 256 << 20):
        self.capacity = capacity
        self._items: OrderedDict[tuple[int, ...], bytes] = OrderedDict()

    def put(self, key: tuple[int, ...], data: bytes) -> None:
        self._items.pop(key, None)
        self._items[key] = data
        while sum(len(v) for v in self._items.values()) > self.capacity and len(self._items) > 1:
            self._items.popitem(last=False)

    def get(self, key: tuple[int, ...]) -> bytes:
        self._items.move_to_end(key)
        return self._items[key]

    def longest(self, tokens) -> tuple[tuple[int, ...] | None, int]:
        best, best_n = None, 0
        for key in self._items:
            n = _common_prefix(key, tokens)
            if n > best_n:
                best, best_n = key, n
        return best, best_n

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class OpenAICompatibleBackend:
    """A clinic's on-premises server (llama.cpp server, llama-cpp-python's server, vLLM) over HTTP.

    Opt-in only, by URL; clinidoc makes no other network call. `schema_style` picks how the JSON
    schema is sent: "json_object" ({"type": "json_object", "schema": ...}: llama.cpp and
    llama-cpp-python servers) or "json_schema" (OpenAI's form, which vLLM and llama.cpp accept).
    """

    def __init__(self, base_url: str, model: str | None = None, *, api_key: str | None = None,
                 schema_style: str = "json_object", timeout_s: float = 300.0):
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.model = model
        self.api_key = api_key
        self.schema_style = schema_style
        self.timeout_s = timeout_s
        self.stats = GenerationStats()

    def _request(self, path: str, body: dict | None = None):
        import json
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method="GET" if body is None else "POST")
        req.add_header("Content-Type", "application/json")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        return urllib.request.urlopen(req, timeout=self.timeout_s)

    def server_model(self) -> str:
        """The model the server says it serves, recorded in provenance."""
        import json

        if self.model is None:
            with self._request("/models") as resp:
                models = json.load(resp).get("data") or []
            self.model = models[0]["id"] if models else "unknown"
        return self.model

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # servers differ in tokenize endpoints; a rough bound is enough for budgeting

    context_tokens: int | None = None  # the server's own setting; set it to make clinidoc split long input

    def ensure_context(self, tokens_needed: int) -> bool:
        return self.context_tokens is None or tokens_needed <= self.context_tokens

    def complete_json(self, messages, schema, *, sampling=Sampling(), on_token=None, cancel=None) -> str:
        import json
        import urllib.error

        from clinidoc.errors import ClinidocError

        if self.schema_style == "json_schema":
            fmt = {"type": "json_schema", "json_schema": {"name": "section", "schema": schema, "strict": True}}
        else:
            fmt = {"type": "json_object", "schema": schema}
        body = {
            "model": self.server_model(), "messages": messages, "response_format": fmt, "stream": True,
            "temperature": sampling.temperature, "top_p": sampling.top_p, "seed": sampling.seed,
            "max_tokens": sampling.max_tokens, "repeat_penalty": sampling.repeat_penalty,
        }
        started = time.perf_counter()
        pieces: list[str] = []
        try:
            with self._request("/chat/completions", body) as resp:
                for raw_line in resp:  # server-sent events, one token (or a few) per event
                    if cancel and cancel.cancelled:
                        cancel.raise_if_cancelled()
                    line = raw_line.decode("utf-8").strip()
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    delta = json.loads(payload)["choices"][0].get("delta", {}).get("content") or ""
                    if delta:
                        pieces.append(delta)
                        if on_token:
                            on_token(delta)
        except urllib.error.URLError as exc:
            raise ClinidocError(f"the inference server at {self.base_url} did not answer ({exc.reason}): check it is running") from exc
        elapsed = time.perf_counter() - started
        self.stats.calls += 1
        self.stats.completion_tokens += len(pieces)
        self.stats.seconds += elapsed
        self.stats.per_call.append({"completion_tokens": len(pieces), "seconds": round(elapsed, 3)})
        return "".join(pieces)

    def params(self) -> dict:
        return {"url": self.base_url, "schema_style": self.schema_style}

    def model_use(self) -> ModelUse:
        # The server does not tell us the file's hash; the name it serves is what we can record.
        return ModelUse(role="llm", name=self.server_model(), sha256=None, backend="openai-compatible", params=self.params())
