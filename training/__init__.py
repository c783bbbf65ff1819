"""Training, evaluation and benchmarks of the triage models. Uses `triage`; `triage` never imports this."""
