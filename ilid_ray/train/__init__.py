"""Training side: dataset shards -> Ray Data -> Ray Train `TorchTrainer` -> adapted-CLIP checkpoints.

config.py (TrainConfig) · data.py (shards -> rows -> tensors) · loss.py (gathered contrastive) ·
loop.py (per-worker loop, checkpoints, resume) · features.py (frozen-image feature cache) ·
trainer.py (`fit`: one run + its outputs) · baselines.py (linear probe, Tip-Adapter(-F) on the cache) ·
cv.py (k folds x variants x seeds) · evaluate.py / scoring.py (batch-32 distinct-label top-k, class
reports, `ilid eval`) · plots.py (Fig. 7 curves, Fig. 8 t-SNE) · commands.py (CLI).
The model library itself lives in `ilid_ray.models` (no Ray there).
"""
