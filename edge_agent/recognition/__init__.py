"""From faces to decisions: pipeline, tracker, per-track recognizer, the FAISS gallery and its packages, thresholds."""
