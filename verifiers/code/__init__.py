"""Code oracles and feedback for MBPP+ / HumanEval+ (EvalPlus semantics), run in the sandbox.

- :mod:`.execution`: limits, jobs for the in-sandbox runner, batching, results (the host's side
  of :mod:`sandbox.runner.protocol`); :mod:`.executors`: where they run (warm pool, host).
- :mod:`.compare`: EvalPlus output comparison on plain data.
- :mod:`.sanitize`: the program out of a model response.
- :mod:`.expected`: canonical solutions run once, outputs and times cached on disk.
- :mod:`.evalplus`: the ``evalplus`` oracle; :mod:`.public_tests`: the ``public_tests``
  selector / feedback verifier.
"""
