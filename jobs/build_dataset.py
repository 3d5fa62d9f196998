"""Build or grow a dataset on a Ray cluster:

    ray job submit --working-dir . --runtime-env-json '{"pip": ["-e ."]}' -- \
        python jobs/build_dataset.py --config configs/build/fixture.yaml

Same options as `ilid build`; prints where the shards, manifest and rejects went.
"""

from ilid_ray.dataset.commands import build

if __name__ == "__main__":
    build()
