"""Models and sampling, tasks, the multi-turn loop, the run store, metrics, reports and the CLI."""
