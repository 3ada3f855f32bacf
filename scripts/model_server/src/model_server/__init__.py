"""model_server: serves an mlops model artifact over HTTP.

  artifact.py   the artifact format (shared with `mlops train`): deterministic packing,
                strict unpacking, skops loading with an explicit trusted-type list
  faults.py     FaultInjected: a defect carried in the artifact as data
  predictor.py  request bodies -> feature rows -> predictions -> response bodies
  app.py        the FastAPI application: protocol routers over one predictor
  protocols/    one router per wire protocol (SageMaker today)
  cli.py        `model-server serve`: SageMaker's container entrypoint

Importing this package imports nothing heavy: numpy, scikit-learn, skops and FastAPI are
imported where they are used, so `mlops artifact push` can verify an archive without them.
"""

__version__ = "0.1.0"
