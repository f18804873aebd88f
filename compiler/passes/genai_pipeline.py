"""text-generation builds: source folder -> one onnxruntime-genai folder per planned precision ->
verification against transformers -> gates. Returns the PassResults every other build returns, so
selection, the report and the emitters treat these candidates like any other.

Progress: each stage is a timed pass event (the CLI prints it as it ends), and the reference
reports each prompt and window as it goes, so a long verification is never silent.
"""

from __future__ import annotations

import numpy as np

from compiler.errors import SpecError, SpecIssue
from compiler.frontend.huggingface import generation_model
from compiler.passes import genai_reference, genai_verify, registry, verify
from compiler.passes.base import PassContext
from compiler.passes.data import Dataset
from compiler.passes.pipeline import PassResults
from compiler.passes.registry import PassInputs
from compiler.planner import Plan


def run_genai(plan: Plan, ctx: PassContext) -> PassResults:
    from compiler.passes.genai_source import source_folder

    steps = [s for s in plan.passes if s.run]
    if not steps:
        raise SpecError(SpecIssue("target", f"no pass makes a candidate for {plan.target}: "
                                  + "; ".join(f"{s.name} ({s.config.precision if s.config else '-'}): {s.reason}"
                                              for s in plan.passes)))
    with ctx.timed("load") as event:
        folder, digest = source_folder(generation_model(ctx.spec), ctx)
        data = genai_reference.load_data(ctx.spec, folder)
        event.detail = f"{len(data.prompts)} prompts, {len(data.windows)} perplexity windows"
    ref = genai_reference.reference(folder, digest, data, ctx)
    inputs = PassInputs((folder, digest), None)
    made = [a for a in (ctx.attempt(s.config.candidate.value, lambda s=s: registry.get(s.config.pass_name).run(
        s, inputs, ctx)) for s in steps) if a is not None]
    verifications = {}
    for a in made:
        v = ctx.attempt(a.candidate, lambda a=a: genai_verify.verify(a, data, ref, ctx, plan.measure), a)
        if v is not None:
            verifications[a.candidate] = v
    unmeasured = "" if plan.measure else plan.measure_note
    failures = {name: verify.check_gates(v, ctx.spec.gates, unmeasured) for name, v in verifications.items()}
    prompts = Dataset({"prompt_tokens": np.array([len(p) for p in data.prompts], np.int64)}, None, "evaluation")
    notes = {"reference": f"transformers fp32, perplexity {ref.perplexity:.4f} on {ref.scored} tokens"}
    return PassResults(prompts, None, [a for a in made if a.candidate in verifications], verifications, failures,
                       None, None, notes, list(ctx.broken))
