"""A tiny SAM that really segments: fitted in minutes on synthetic scenes of flat shapes.

No SAM weights can be downloaded here, and a randomly initialised SAM returns noise covering the
whole image, which the mask filters rightly drop. So tests and the offline demo use the tiny SAM
architecture trained on generated scenes (coloured rectangles, ellipses and polygons on a textured
background; a point prompt's target is the region under it, background included), the way SAM is
trained: three candidate masks per point, loss on the best one, IoU head regressed on the real IoU.
It learns "the uniformly coloured region around this point", enough for the generator to return
object-shaped masks on simple photos. Reproduce with `python -m ilid_ray.serve.synthetic OUT.pt`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 256  # the tiny SAM's input size
LOW_RES = 64  # its mask decoder's output size


def shapes_scene(rng: np.random.Generator, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 image, int region map: 0 = background, k = k-th shape, later shapes on top)."""
    base = rng.integers(0, 256, 3)
    gradient = np.linspace(-30, 30, size)[None, :, None] * rng.uniform(-1, 1, 3)
    image = Image.fromarray(np.clip(base + gradient + rng.normal(0, 6, (size, size, 3)), 0, 255).astype(np.uint8))
    regions = Image.new("L", (size, size), 0)
    draw, label_draw = ImageDraw.Draw(image), ImageDraw.Draw(regions)
    for k in range(1, int(rng.integers(1, 5)) + 1):
        w, h = rng.integers(size // 8, size // 2, 2)
        x0, y0 = rng.integers(0, size - w), rng.integers(0, size - h)
        box = [int(x0), int(y0), int(x0 + w), int(y0 + h)]
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.rectangle(box, fill=color)
            label_draw.rectangle(box, fill=k)
        elif kind == 1:
            draw.ellipse(box, fill=color)
            label_draw.ellipse(box, fill=k)
        else:
            points = [(int(rng.integers(box[0], box[2])), int(rng.integers(box[1], box[3]))) for _ in range(5)]
            draw.polygon(points, fill=color)
            label_draw.polygon(points, fill=k)
    pixels = np.asarray(image).astype(np.float32) + rng.normal(0, 4, (size, size, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8), np.asarray(regions)


def _batch(rng: np.random.Generator, images: int, points: int):
    """Images [B,H,W,3], point coords [B,P,2] (x, y), targets [B,P,64,64] bool."""
    scenes = [shapes_scene(rng) for _ in range(images)]
    coords = rng.integers(0, SIZE, (images, points, 2))
    targets = np.stack([
        np.stack([np.asarray(Image.fromarray((regions == regions[y, x]).astype(np.uint8) * 255)
                             .resize((LOW_RES, LOW_RES), Image.Resampling.BILINEAR)) > 127
                  for x, y in pts])
        for (_, regions), pts in zip(scenes, coords)])
    return np.stack([s[0] for s in scenes]), coords, targets


def fit_tiny_sam(out: str | Path, steps: int = 600, images: int = 8, points: int = 8, seed: int = 0,
                 lr: float = 3e-3, log_every: int = 50) -> Path:
    """Train the tiny SAM on synthetic scenes and save its state dict (a plain tensor dict)."""
    import torch
    import torch.nn.functional as F

    from ilid_ray.serve.sam import build_tiny_sam

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    sam = build_tiny_sam().train()
    optimizer = torch.optim.AdamW(sam.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    pe = None
    started = time.time()
    for step in range(1, steps + 1):
        pixels, coords, targets = _batch(rng, images, points)
        x = sam.preprocess(torch.from_numpy(pixels).permute(0, 3, 1, 2).float())
        embeddings = sam.image_encoder(x)
        pe = sam.prompt_encoder.get_dense_pe()
        losses = []
        for i in range(images):
            point = torch.from_numpy(coords[i]).float()[:, None, :] + 0.5
            sparse, dense = sam.prompt_encoder(points=(point, torch.ones(points, 1)), boxes=None, masks=None)
            logits, iou_pred = sam.mask_decoder(image_embeddings=embeddings[i:i + 1], image_pe=pe,
                                                sparse_prompt_embeddings=sparse,
                                                dense_prompt_embeddings=dense, multimask_output=True)
            target = torch.from_numpy(targets[i]).float()[:, None].expand_as(logits)
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean((2, 3))
            prob = logits.sigmoid()
            dice = 1 - (2 * (prob * target).sum((2, 3)) + 1) / (prob.sum((2, 3)) + target.sum((2, 3)) + 1)
            per_mask = bce + dice
            best = per_mask.min(dim=1).values.mean()
            with torch.no_grad():
                hard = (logits > 0).float()
                inter, union = (hard * target).sum((2, 3)), ((hard + target) > 0).float().sum((2, 3))
                true_iou = inter / union.clamp(min=1)
            losses.append(best + F.mse_loss(iou_pred, true_iou))
        loss = torch.stack(losses).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % log_every == 0 or step == steps:
            print(f"step {step}/{steps} loss {loss.item():.4f} ({time.time() - started:.0f} s)", flush=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in sam.eval().state_dict().items()}, out)
    return out


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "tiny_sam_shapes.pt"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    print(fit_tiny_sam(target, steps=steps))
