"""Train one CLIP variant on a Ray cluster:

    ray job submit --working-dir . --runtime-env-json '{"pip": ["-e .[train]"]}' -- \
        python jobs/train.py --config configs/train/paper.yaml --set data.root=s3://bucket/ilid

Same options as `ilid train`; prints where the model, metrics and plots went.
"""

from ilid_ray.train.commands import train

if __name__ == "__main__":
    train()
