"""The evaluation kinds, one module each; importing them registers them (evaluators/registry.py).

A new kind is one module here (an Evaluator subclass under `@registry.register`), its line
below, and its entry's fields in big_uni/config_schema.py EVALS.
"""
from big_uni.evaluators.kinds import (caption_retrieval, knn, linear_probe, retrieval,
                                      task_metrics, zero_shot)
