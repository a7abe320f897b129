"""Errors of the model store. Every message names the model (or sample set) concerned."""


class ModelStoreError(Exception):
    """A model could not be fetched, converted, verified or found."""

    def __init__(self, name: str, message: str):
        self.name = name
        super().__init__(f"model '{name}': {message}")
