"""Representation evaluators: functions of frozen feature arrays, independent of any model.

- `knn.knn_accuracy`: k-nearest-neighbour classification, majority and DINO-weighted votes.
- `linear_probe.linear_probe`: CLIP's logistic-regression probe, C searched on validation data.
- `zero_shot.zero_shot_classifier` / `zero_shot_accuracy`: CLIP prompt-ensemble zero-shot.
- `retrieval.retrieval_recall`: image<->text recall@K, several captions per image allowed.

Import from the modules (`from big_uni.evaluators.knn import knn_accuracy`): nothing is
re-exported here, since the function `linear_probe` would shadow its module, and a kNN user
need not import scikit-learn.
"""
