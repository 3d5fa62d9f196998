"""Synthetic segmentation scenes from dataset cut-outs (exact masks for free), and their evaluation."""
