"""Runs first in the frozen app: no library may reach the network.

The app sets the same flags itself before loading a model
(``memory.embedding.force_offline``); setting them before any import makes
that true for every library in the bundle, whatever imports it first.
"""

import os

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)
