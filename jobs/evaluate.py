"""Score a checkpoint and its zero-shot base on dataset folds (batches of 32, top-1/top-3, macro F1):

    ray job submit --working-dir . --runtime-env-json '{"pip": ["-e .[train]"]}' -- \
        python jobs/evaluate.py --root s3://bucket/ilid --checkpoint s3://bucket/runs/x/model.safetensors \
        --folds 0 --out s3://bucket/runs/x/eval

Same options as `ilid eval run`; prints the table and where the metric files went.
"""

from ilid_ray.train.commands import eval_run

if __name__ == "__main__":
    eval_run()
