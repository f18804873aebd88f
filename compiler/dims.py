"""Lengths for symbolic dims that nothing in the spec fixes.

Shared by the passes (synthesized inputs, export probes) and by the GPU engine profile that
the emitters write into runtime.json and Triton's config, so both sides use the same numbers."""

SYNTH_DIMS = 16  # length of symbolic non-batch dims (e.g. seq) in synthesized inputs
OTHER_DIM_MAX = 8 * SYNTH_DIMS  # TensorRT profile max of symbolic dims other than batch when nothing says more
