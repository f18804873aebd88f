"""`deployc diff`: a semantic diff of two output trees (or folders of trees) for review."""

from compiler.diff.core import Diff, DiffInputError, diff_paths
from compiler.diff.markdown import render

__all__ = ["Diff", "DiffInputError", "diff_paths", "render"]
