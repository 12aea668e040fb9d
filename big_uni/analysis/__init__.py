"""What trained models learned, as arrays the notebooks in colabs/ plot: attention maps, rollout and
relevance, position-embedding similarity, attention distance, patch filters (vit.py); CLIP's
evaluation protocol (clip.py); BERT's fill-mask and NSP (bert.py); training curves (curves.py)."""
