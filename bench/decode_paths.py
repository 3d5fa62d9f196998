"""Decode paths for the download stage: images per CPU-second of one thread, per source format.

    python bench/decode_paths.py [--images 400] [--repeats 5]

Input: the fixture product images the image bench serves (JPEG/PNG/WebP in the fixture proportions,
300x200 to 2000x1500, some JPEGs stored rotated with an EXIF orientation, a few real photos),
rendered in-process by the function the fixture server calls (`ilid_ray.testing.images.render`), so
no server or network is involved: bytes already in memory.

Per candidate, two measurements: `decode_resize` = bytes -> upright 512x512 RGB (long side scaled to
512, short side padded with the replicated border) and `full` = that plus a quality-95 JPEG encode.
Candidates:

- `pil_draft`: the PIL path imaging.decode had before the fast path (Image.open, `draft` at the
  1/2, 1/4, 1/8 DCT scale keeping the long side >= 512, EXIF transpose, RGB), then `resize_pad`
  and PIL's JPEG save. Re-implemented here so it stays measurable.
- `ilid_imaging`: the public functions of `ilid_ray.imaging` as they are now, composed (decode ->
  resize_pad -> encode, PIL images in between): what serving, training and import get.
- `ilid_make_sample`: `imaging.make_sample`, the download stage's call (`process_image` without the
  sha256): the same decoders on arrays end to end, OpenCV's JPEG encoder.
- `opencv_full_area` (the baseline, img2dataset's path): cv2.imdecode full size, INTER_AREA resize
  (bench/reference_pipeline.py's resize_without_distortion), cv2.imencode.
- `opencv_reduced`: JPEGs decoded with IMREAD_REDUCED_COLOR_2/4/8 (the same scale choice as the
  draft), other formats full size; OpenCV resize/pad; cv2.imencode.
- `simplejpeg_pow2`: JPEGs (YCbCr/grey) decoded by simplejpeg (libjpeg-turbo) at the same 1/2, 1/4,
  1/8 scale, EXIF orientation applied on the array (cv2.rotate); other formats and CMYK through
  `imaging.decode`; OpenCV resize/pad on numpy arrays; simplejpeg's encoder (4:2:0, like PIL's and OpenCV's
  default).
- `simplejpeg_any_scale`: as above but letting simplejpeg pick any libjpeg-turbo M/8 scale (the
  smallest output with both sides >= the proportional request): non-power-of-two scales.

Then the encoders alone on the same 512x512 images at quality 95: PIL save, cv2.imencode (BGR
input), simplejpeg.encode_jpeg (4:2:0): images per CPU-second, mean bytes, and how many outputs
equal PIL's byte for byte.

Method: each pass runs one candidate over every image of one format; passes are interleaved across
candidates and repeated `--repeats` times; `best` is the pass with the least CPU time (the one least
disturbed by other load on the machine: the CPU time of one thread still grows when caches and
cores are shared), `median` the median pass. CPU time is `time.process_time()` of this
process, OpenCV restricted to one thread. `pixel_mad_vs_pil_draft` is the mean absolute difference
(0-255) of the candidate's 512x512 pixels from `pil_draft`'s, `jpeg_bytes_identical_to_pil_draft`
how many of its q95 JPEGs equal `pil_draft`'s byte for byte. One JSON line, also written to
bench/results/decode_paths.json.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import header, load_avg, write_result  # noqa: E402

NAME = "decode_paths"
SIZE = 512
QUALITY = 95
MAX_PIXELS = 80_000_000
FORMATS = ("jpg", "png", "webp")


# --------------------------------------------------------------------------- input


def fixture_images(n: int) -> list[tuple[str, bytes]]:
    """(ext, bytes) of the first n fixture images, every image of every product, as served."""
    from common import fixture_catalogs

    from ilid_ray.testing import images

    out: list[tuple[str, bytes]] = []
    catalogs = fixture_catalogs(math.ceil(n / 1.5), 4)
    for catalog in catalogs:
        for index in range(catalog.n_products):
            for k in range(catalog.n_images(index)):
                spec = catalog.image_spec(index, k)
                out.append((spec.ext, images.render(catalog.product(index), spec, catalog.seed, k)))
    return out[:n]


# --------------------------------------------------------------------------- candidates


def candidates() -> dict[str, tuple]:
    """name -> (decode_resize(bytes) -> the 512x512 image, full(bytes) -> q95 JPEG bytes, the
    decode_resize result -> an RGB array). decode_resize returns what the candidate's own encoder
    takes (a PIL image, an RGB or BGR array)."""
    import cv2
    import simplejpeg
    from PIL import Image, ImageOps

    from ilid_ray import imaging
    from reference_pipeline import resize_without_distortion

    cv2.setNumThreads(1)

    def fit_pad(arr: np.ndarray) -> np.ndarray:
        """resize_pad's geometry on an array (INTER_AREA down, INTER_CUBIC up, replicated border)."""
        h, w = arr.shape[:2]
        new_w, new_h = imaging.fitted_size(w, h, SIZE)
        if (new_w, new_h) != (w, h):
            arr = cv2.resize(arr, (new_w, new_h), interpolation=cv2.INTER_AREA if new_w < w else cv2.INTER_CUBIC)
        if (new_w, new_h) != (SIZE, SIZE):
            top, left = (SIZE - new_h) // 2, (SIZE - new_w) // 2
            arr = cv2.copyMakeBorder(arr, top, SIZE - new_h - top, left, SIZE - new_w - left, cv2.BORDER_REPLICATE)
        return arr

    def pow2_scale(width: int, height: int) -> int:
        """PIL's draft choice for imaging._draft_request: the largest of 8, 4, 2, 1 not above
        min(width // request_w, height // request_h)."""
        req_w, req_h = imaging._draft_request(width, height, SIZE)
        fit = min(width // req_w, height // req_h)
        return next((s for s in (8, 4, 2) if fit >= s), 1)

    # ---- pil_draft: the PIL-only decode (as imaging.decode was), resize_pad, PIL save
    def pil_draft(data: bytes) -> Image.Image:
        img = Image.open(io.BytesIO(data), formats=imaging.ALLOWED_FORMATS)
        width, height = img.size
        orientation = img.getexif().get(imaging.ORIENTATION_TAG, 1)
        if img.format == "JPEG":
            img.draft("RGB", imaging._draft_request(width, height, SIZE))
        img.load()
        if orientation in range(2, 9):
            img = ImageOps.exif_transpose(img)
        return imaging.resize_pad(imaging.to_rgb(img), SIZE)

    def pil_save(img: Image.Image) -> bytes:
        out = io.BytesIO()
        img.save(out, "JPEG", quality=QUALITY)
        return out.getvalue()

    # ---- ilid_imaging: the project's public functions as they are now, composed
    def ilid(data: bytes) -> Image.Image:
        return imaging.resize_pad(imaging.decode(data, MAX_PIXELS, draft_size=SIZE).image, SIZE)

    def ilid_encode(img: Image.Image) -> bytes:
        return imaging.encode(img, "jpg", QUALITY)

    # ---- ilid_make_sample: imaging.make_sample (the download stage's call); its decode + resize
    # half measured through the private functions it is made of
    def ilid_sample_pixels(data: bytes) -> tuple[np.ndarray, bool]:
        out = imaging._decode(data, MAX_PIXELS, SIZE, True, imaging.MAX_DECODE_BYTES)[0]
        bgr = isinstance(out, np.ndarray)
        return imaging._resize_pad_array(out if bgr else np.asarray(out), SIZE), bgr

    def ilid_sample(data: bytes) -> bytes:
        return imaging.make_sample(data, MAX_PIXELS, SIZE, "jpg", QUALITY).data

    # ---- OpenCV
    def opencv_full(data: bytes) -> np.ndarray:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return resize_without_distortion(img, SIZE, SIZE)

    reduced = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
               8: cv2.IMREAD_REDUCED_COLOR_8}

    def opencv_reduced(data: bytes) -> np.ndarray:
        flag = cv2.IMREAD_COLOR
        if data[:3] == b"\xff\xd8\xff":
            height, width = simplejpeg.decode_jpeg_header(data)[:2]  # header only: the stored size
            flag = reduced[pow2_scale(width, height)]
        return fit_pad(cv2.imdecode(np.frombuffer(data, np.uint8), flag))

    def cv2_encode(bgr: np.ndarray) -> bytes:
        return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1].tobytes()

    # ---- simplejpeg
    turns = {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}  # the fixtures'

    def simplejpeg_decode(data: bytes, any_scale: bool) -> np.ndarray:
        img = Image.open(io.BytesIO(data), formats=imaging.ALLOWED_FORMATS)  # header, EXIF, mode
        if img.format != "JPEG" or img.mode not in ("RGB", "L"):
            return np.asarray(imaging.decode(data, MAX_PIXELS, draft_size=SIZE).image)
        width, height = img.size
        orientation = img.getexif().get(imaging.ORIENTATION_TAG, 1)
        if any_scale:
            min_w, min_h = imaging._draft_request(width, height, SIZE)
        else:
            s = pow2_scale(width, height)
            min_w, min_h = -(-width // s), -(-height // s)
        arr = simplejpeg.decode_jpeg(data, "RGB", min_width=min_w, min_height=min_h)
        if orientation in turns:  # cv2.rotate: ~10x faster than a copy of np.rot90's view
            arr = cv2.rotate(arr, turns[orientation])
        return arr

    def sj_pow2(data: bytes) -> np.ndarray:
        return fit_pad(simplejpeg_decode(data, any_scale=False))

    def sj_any(data: bytes) -> np.ndarray:
        return fit_pad(simplejpeg_decode(data, any_scale=True))

    def sj_encode(rgb: np.ndarray) -> bytes:
        return simplejpeg.encode_jpeg(rgb, QUALITY, "RGB", "420")

    def composed(decode_resize, encode):
        return lambda data: encode(decode_resize(data))

    rgb = np.asarray

    def from_bgr(out) -> np.ndarray:
        return np.asarray(out)[..., ::-1]

    def from_sample(out) -> np.ndarray:
        arr, bgr = out
        return arr[..., ::-1] if bgr else arr

    return {  # name -> (decode_resize, full, the decode_resize result as an RGB array)
        "pil_draft": (pil_draft, composed(pil_draft, pil_save), rgb),
        "ilid_imaging": (ilid, composed(ilid, ilid_encode), rgb),
        "ilid_make_sample": (ilid_sample_pixels, ilid_sample, from_sample),
        "opencv_full_area": (opencv_full, composed(opencv_full, cv2_encode), from_bgr),
        "opencv_reduced": (opencv_reduced, composed(opencv_reduced, cv2_encode), from_bgr),
        "simplejpeg_pow2": (sj_pow2, composed(sj_pow2, sj_encode), rgb),
        "simplejpeg_any_scale": (sj_any, composed(sj_any, sj_encode), rgb),
    }


def encoders() -> dict[str, tuple]:
    """name -> (encode(rgb ndarray) -> bytes); each gets the input its library takes, prepared
    outside the clock (a PIL image for PIL, a BGR array for OpenCV)."""
    import cv2
    import simplejpeg
    from PIL import Image

    def pil(img: Image.Image) -> bytes:
        out = io.BytesIO()
        img.save(out, "JPEG", quality=QUALITY)
        return out.getvalue()

    return {
        "pil_save": (pil, lambda rgb: Image.fromarray(rgb)),
        "cv2_imencode": (lambda bgr: cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1].tobytes(),
                         lambda rgb: np.ascontiguousarray(rgb[..., ::-1])),
        "simplejpeg_encode_420": (lambda rgb: simplejpeg.encode_jpeg(rgb, QUALITY, "RGB", "420"), lambda rgb: rgb),
    }


# --------------------------------------------------------------------------- measurement


def cpu_pass(fn, items: list) -> float:
    started = time.process_time()
    for item in items:
        fn(item)
    return time.process_time() - started


def summarise(times: list[float], count: int) -> dict:
    return {"best": round(count / min(times), 1), "median": round(count / statistics.median(times), 1)}


def measure(images: list[tuple[str, bytes]], repeats: int) -> dict:
    cands = candidates()
    by_format = {fmt: [data for ext, data in images if ext == fmt] for fmt in FORMATS}
    by_format["all"] = [data for _, data in images]
    reference = {fmt: [np.asarray(cands["pil_draft"][0](d), dtype=np.int16) for d in datas]
                 for fmt, datas in by_format.items()}
    results: dict = {}
    reference_jpeg = [cands["pil_draft"][1](d) for d in by_format["all"]]
    for name, (decode_resize, full, as_rgb) in cands.items():  # warm-up + output checks, unclocked
        mad = {}
        for fmt, datas in by_format.items():
            outs = [as_rgb(decode_resize(d)).astype(np.int16) for d in datas]
            mad[fmt] = round(float(np.mean([np.abs(o - r).mean() for o, r in zip(outs, reference[fmt])])), 3)
        same = sum(full(d) == ref for d, ref in zip(by_format["all"], reference_jpeg))
        results[name] = {"pixel_mad_vs_pil_draft": mad,
                         "jpeg_bytes_identical_to_pil_draft": f"{same}/{len(reference_jpeg)}"}
    times = {(name, kind, fmt): [] for name in cands for kind in ("decode_resize", "full") for fmt in by_format}
    for _ in range(repeats):
        for fmt in FORMATS:  # "all" is the sum of the per-format passes
            for name, (decode_resize, full, _) in cands.items():
                times[(name, "decode_resize", fmt)].append(cpu_pass(decode_resize, by_format[fmt]))
                times[(name, "full", fmt)].append(cpu_pass(full, by_format[fmt]))
        for name in cands:
            for kind in ("decode_resize", "full"):
                times[(name, kind, "all")].append(sum(times[(name, kind, f)][-1] for f in FORMATS))
    for (name, kind, fmt), ts in times.items():
        results[name].setdefault(f"{kind}_per_cpu_s", {})[fmt] = summarise(ts, len(by_format[fmt]))
    base = results["opencv_full_area"]
    for name, res in results.items():
        res["full_vs_opencv_full_area"] = round(res["full_per_cpu_s"]["all"]["best"]
                                                / base["full_per_cpu_s"]["all"]["best"], 2)
    return results


def measure_encoders(images: list[tuple[str, bytes]], repeats: int) -> dict:
    decode_resize = candidates()["pil_draft"][0]
    rgbs = [np.asarray(decode_resize(d)) for _, d in images]
    out, reference = {}, None
    for name, (encode, prepare) in encoders().items():
        inputs = [prepare(rgb) for rgb in rgbs]
        encoded = [encode(x) for x in inputs]
        reference = reference or encoded  # pil_save's, the first
        ts = [cpu_pass(encode, inputs) for _ in range(repeats)]
        same = sum(a == b for a, b in zip(encoded, reference))
        out[name] = {"per_cpu_s": summarise(ts, len(inputs)), "mean_bytes": round(statistics.mean(map(len, encoded))),
                     "bytes_identical_to_pil_save": f"{same}/{len(inputs)}"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results-dir", default=None)
    args = parser.parse_args()

    import cv2
    import PIL
    import simplejpeg

    result = header(NAME)
    started = time.perf_counter()
    images = fixture_images(args.images)
    result.update(images=len(images), formats={f: sum(ext == f for ext, _ in images) for f in FORMATS},
                  render_s=round(time.perf_counter() - started, 1),
                  versions={"pillow": PIL.__version__, "opencv": cv2.__version__,
                            "simplejpeg": simplejpeg.__version__},
                  pyturbojpeg="not measured: needs the system libturbojpeg shared library, absent here "
                              "(pip installs only the ctypes wrapper)",
                  measured_as="images per CPU-second of one thread (process_time), bytes in memory; "
                              "best and median of the repeated passes")
    result["load_avg_measure_start"] = load_avg()
    result["candidates"] = measure(images, args.repeats)
    result["encoders_q95"] = measure_encoders(images, args.repeats)
    result["load_avg_end"] = load_avg()
    write_result(NAME, result, args.results_dir)


if __name__ == "__main__":
    main()
