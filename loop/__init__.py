"""Everything around the checks: models and sampling (``engines``, ``samplers``), datasets and
prompts (``tasks``), the run store (``store``), doing a run (``run``), the numbers of runs
(``analysis``), presenting them (``report``), RFT export (``rft``) and the CLI (``cli``,
``commands``). Imports flow ``commands -> run -> report -> analysis -> tasks/samplers ->
engines/store/progress`` (``tests/test_house.py``)."""
