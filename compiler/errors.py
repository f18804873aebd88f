"""Errors the CLI turns into a message and a fixed exit code (no traceback unless DEPLOYC_DEBUG=1)."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1  # a pass or a gate failed
EXIT_USAGE = 2  # the spec or the command line is wrong


class DeploycError(Exception):
    exit_code = EXIT_FAILED


@dataclass
class SpecIssue:
    """One problem in the spec, located by dotted key path and, when known, file:line."""

    path: str
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "<spec>"
        if self.file:
            where += f" ({self.file}:{self.line})" if self.line else f" ({self.file})"
        return f"{where}: {self.message}"


class SpecError(DeploycError):
    """The spec (or an input it names) is wrong. Carries every issue found, not just the first."""

    exit_code = EXIT_USAGE

    def __init__(self, issues: list[SpecIssue] | SpecIssue | str, path: str = ""):
        if isinstance(issues, str):
            issues = [SpecIssue(path, issues)]
        elif isinstance(issues, SpecIssue):
            issues = [issues]
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class PassError(DeploycError):
    """A model pass failed on input that validated (an unexportable op, a factory that raises)."""

    def __init__(self, pass_name: str, message: str):
        self.pass_name = pass_name
        super().__init__(f"pass {pass_name}: {message}")


@dataclass
class GateFailure:
    artifact: str
    metric: str
    threshold: float
    measured: float | None  # None: the metric could not be computed (the note says why)
    op: str  # ">=" or "<="
    note: str = ""  # why a value failed that no comparison explains (NaN, not measured, ...)

    def __str__(self) -> str:
        value = "not computed" if self.measured is None else f"{self.measured:.6g}"
        text = f"{self.artifact}: {self.metric} = {value}, gate requires {self.op} {self.threshold:g}"
        return f"{text} ({self.note})" if self.note else text


class GateError(DeploycError):
    """No candidate passed its gates for this target (or could even be built and run)."""

    def __init__(self, failures: list[GateFailure] = (), broken: list[str] = ()):
        self.failures, self.broken = list(failures), list(broken)
        lines = "\n".join(f"  - {f}" for f in [*failures, *self.broken])
        super().__init__(f"no artifact passed the gates:\n{lines}")


class RegistryError(DeploycError):
    """The model registry could not be used (unreachable, failing, or its copy of a pinned model
    changed): nothing the spec can fix, so exit 1 as for a failed step, naming the server."""
