"""mistral-v2: the StackStorm runner that drives OpenStack Mistral workflows."""

__version__ = "0.1.0"
