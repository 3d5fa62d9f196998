"""Training side: dataset shards -> Ray Data -> Ray Train `TorchTrainer` -> adapted-CLIP checkpoints.

config.py (TrainConfig) · data.py (shards -> rows -> tensors) · loss.py (gathered contrastive) ·
loop.py (per-worker loop, checkpoints, resume) · features.py (frozen-image feature cache) ·
trainer.py (`fit`: one run + its outputs) · cv.py (k folds x variants) · evaluate.py / scoring.py
(batch-32 accuracy, macro F1, `ilid eval`) · plots.py (Fig. 7 curves, Fig. 8 t-SNE) · commands.py (CLI).
The model library itself lives in `ilid_ray.models` (no Ray there).
"""
