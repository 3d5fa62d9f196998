"""ilid-ray: build the Industrial Language-Image Dataset on Ray, adapt CLIP to it, serve it.

Kept import-light on purpose: the dataset modules must load in the vLLM environment, which has
neither torchvision nor open_clip.
"""

__version__ = "0.1.0"
