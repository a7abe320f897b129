"""The model store: a manifest of every model and the tools that fetch, convert and verify them.

Public API (used by the edge agent and the enrolment tools):

    from models import ModelStore
    store = ModelStore()
    path = store.path("mobilefacenet")          # verified file in the cache
    entry = store.default("embedder")           # the default entry for a role
"""

from models.errors import ModelStoreError
from models.manifest import Manifest, ModelEntry, SampleSet, load_manifest
from models.store import ModelStatus, ModelStore

__all__ = [
    "Manifest",
    "ModelEntry",
    "ModelStatus",
    "ModelStore",
    "ModelStoreError",
    "SampleSet",
    "load_manifest",
]
