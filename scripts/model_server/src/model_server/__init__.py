"""model_server: serves an mlops model artifact over HTTP.

  artifact.py   the artifact format (shared with `mlops train`): deterministic packing,
                strict unpacking, skops loading with an explicit trusted-type list
  faults.py     FaultInjected: a defect carried in the artifact as data
  predictor.py  request bodies -> feature rows -> predictions -> response bodies
  state.py      ModelSlot: the one model of the process, loading / ready / draining
  app.py        the FastAPI application: protocol routers over one slot, observers
  protocols/    one router per wire protocol: SageMaker, Open Inference Protocol v2
  metrics.py    Prometheus counters and latency histogram per route and model
  batch.py      `model-server batch`: predict every object under an S3 prefix
  cli.py        `model-server serve|unpack|batch`: the container's entrypoint

Importing this package imports nothing heavy: numpy, scikit-learn, skops, FastAPI and
boto3 are imported where they are used, so `mlops artifact push` can verify an archive
without them.
"""

__version__ = "0.1.0"
