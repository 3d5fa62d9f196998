"""k-fold cross-validation of the variants on a Ray cluster (runs in parallel as resources allow):

    ray job submit --working-dir . --runtime-env-json '{"pip": ["-e .[train]"]}' -- \
        python jobs/cross_validate.py --config configs/train/paper.yaml

Same options as `ilid cv`; prints the summary table and where the metrics and curves went.
"""

from ilid_ray.train.commands import cv

if __name__ == "__main__":
    cv()
