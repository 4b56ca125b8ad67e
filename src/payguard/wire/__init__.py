"""The wire schema: request and response models shared by the API, the CLI, the simulator
and ML. Pure pydantic on top of `core` and capability interfaces; importable without the
web layer."""
