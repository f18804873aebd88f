"""Strict parsing of OpenAI completion and chat-completion request bodies.

Every refusal is a 4xx naming the field (OpenAI's `param`), the same way /v1/embeddings does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import GenerationRuntime
from .llm_backend import Sampling
from .openai_api import _refuse

COMMON = ("model", "max_tokens", "temperature", "top_p", "stop", "seed", "stream", "stream_options", "n", "user")
COMPLETION_FIELDS = COMMON + ("prompt",)
CHAT_FIELDS = COMMON + ("messages", "max_completion_tokens")
ROLES = ("system", "user", "assistant")
# onnxruntime-genai's own bounds for stop strings (TurnOptions.set_stop_strings), kept here too.
MAX_STOPS, MAX_STOP_CHARS = 16, 256


@dataclass(frozen=True)
class GenerateRequest:
    model: str
    prompt: str | None  # completions
    messages: list[dict] | None  # chat completions
    sampling: Sampling
    stream: bool
    include_usage: bool  # stream_options.include_usage: a last chunk with the usage counts
    max_tokens_given: bool  # else max_tokens is max_new_tokens, cut to the room the prompt leaves


def parse(doc, chat: bool, served: str, gen: GenerationRuntime) -> GenerateRequest:
    if not isinstance(doc, dict):
        raise _refuse("the request body must be a JSON object", None)
    allowed = CHAT_FIELDS if chat else COMPLETION_FIELDS
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise _refuse(f"unknown field(s) {unknown}; this endpoint takes {sorted(allowed)}", unknown[0])
    model = doc.get("model")
    if not isinstance(model, str):
        raise _refuse("model: required, a string", "model")
    if model != served:
        raise _refuse(f"model {model!r} not found; this server serves {served!r}", "model", 404)
    if doc.get("n", 1) != 1 or type(doc.get("n", 1)) is not int:
        raise _refuse(f"n: only 1 choice per request is served, got {doc.get('n')!r}", "n")
    if "user" in doc and not isinstance(doc["user"], str):
        raise _refuse("user: must be a string", "user")
    stream = _bool(doc, "stream")
    options = doc.get("stream_options")
    if options is not None and (not isinstance(options, dict) or set(options) - {"include_usage"}):
        raise _refuse("stream_options: an object with only include_usage", "stream_options")
    if options is not None and not stream:
        raise _refuse("stream_options: only with stream: true", "stream_options")
    include_usage = _bool(options or {}, "include_usage", "stream_options.include_usage")
    prompt = messages = None
    if chat:
        messages = _messages(doc.get("messages"))
    else:
        prompt = _prompt(doc.get("prompt"))
    given = doc.get("max_completion_tokens" if chat and "max_completion_tokens" in doc else "max_tokens") is not None
    return GenerateRequest(model, prompt, messages, _sampling(doc, chat, gen), stream, include_usage, given)


def _utf8(value: str, where: str, param: str) -> str:
    """Bytes that are not UTF-8 (and JSON escapes of lone surrogates) reach here as surrogates:
    no tokenizer can take them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _refuse(f"{where}: not valid UTF-8 text (at character {exc.start})", param) from None
    return value


def _bool(doc: dict, key: str, where: str | None = None) -> bool:
    value = doc.get(key, False)
    if type(value) is not bool:
        raise _refuse(f"{where or key}: must be true or false, got {value!r}", key)
    return value


def _number(doc: dict, key: str, default: float, lo: float, hi: float, lo_open: bool = False) -> float:
    value = doc.get(key)
    if value is None:
        return default
    if type(value) not in (int, float) or not (lo < value <= hi if lo_open else lo <= value <= hi):
        bounds = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise _refuse(f"{key}: a number in {bounds}, got {value!r}", key)
    return float(value)


def _sampling(doc: dict, chat: bool, gen: GenerationRuntime) -> Sampling:
    key = "max_completion_tokens" if chat and "max_completion_tokens" in doc else "max_tokens"
    max_tokens = doc.get(key)
    if max_tokens is None:
        max_tokens = gen.max_new_tokens
    elif type(max_tokens) is not int or not 1 <= max_tokens <= gen.max_new_tokens:
        raise _refuse(f"{key}: a whole number from 1 to {gen.max_new_tokens} (this model's max_new_tokens), "
                      f"got {max_tokens!r}", key)
    seed = doc.get("seed")
    if seed is not None and (type(seed) is not int or not 0 <= seed < 2**63):
        raise _refuse(f"seed: a whole number from 0 to 2**63-1, got {seed!r}", "seed")
    return Sampling(max_tokens=max_tokens, temperature=_number(doc, "temperature", 1.0, 0.0, 2.0),
                    top_p=_number(doc, "top_p", 1.0, 0.0, 1.0, lo_open=True), seed=seed, stop=_stop(doc.get("stop")))


def _stop(value) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or len(stops) > MAX_STOPS:
        raise _refuse(f"stop: a string or a list of at most {MAX_STOPS} strings", "stop")
    for i, stop in enumerate(stops):
        if not isinstance(stop, str) or not 1 <= len(stop) <= MAX_STOP_CHARS:
            raise _refuse(f"stop[{i}]: a non-empty string of at most {MAX_STOP_CHARS} characters, got {stop!r:.80}",
                          "stop")
        _utf8(stop, f"stop[{i}]", "stop")
    return tuple(stops)


def _prompt(value) -> str:
    if isinstance(value, list) and len(value) == 1:  # the client libraries' one-prompt list
        value = value[0]
    if not isinstance(value, str) or not value:
        raise _refuse("prompt: required, one non-empty string (token arrays and several prompts per request "
                      "are not served)", "prompt")
    return _utf8(value, "prompt", "prompt")


def _messages(value) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise _refuse("messages: required, a non-empty list of {role, content} objects", "messages")
    out = []
    for i, msg in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(msg, dict) or set(msg) - {"role", "content", "name"}:
            raise _refuse(f"{where}: an object with role, content (and name)", "messages")
        if msg.get("role") not in ROLES:
            raise _refuse(f"{where}.role: {msg.get('role')!r} is not one of {list(ROLES)}", "messages")
        out.append({"role": msg["role"], "content": _content(msg.get("content"), where)})
    return out


def _content(value, where: str) -> str:
    """A string, or OpenAI's list of text parts (joined)."""
    if isinstance(value, str):
        return _utf8(value, f"{where}.content", "messages")
    if isinstance(value, list) and value:
        parts = []
        for j, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _refuse(f"{where}.content[{j}]: only text parts ({{type: text, text: ...}}) are served",
                              "messages")
            parts.append(_utf8(part["text"], f"{where}.content[{j}].text", "messages"))
        return "".join(parts)
    raise _refuse(f"{where}.content: a string or a list of text parts", "messages")
