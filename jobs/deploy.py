"""Deploy or refresh the segmentation app on a Ray cluster and exit (the app keeps running):

    ray job submit --working-dir . --runtime-env-json '{"pip": ["-e .[serve]"]}' -- \
        python jobs/deploy.py --config serve/production.yaml -o clip.checkpoint=s3://.../model.safetensors

Same options as `ilid serve`; `--detach` is implied. Running it again with a new checkpoint rolls the
replicas over to it (Serve replaces replicas whose config changed).
"""

import sys

from ilid_ray.serve.commands import serve

if __name__ == "__main__":
    serve(sys.argv[1:] + ["--detach"])
