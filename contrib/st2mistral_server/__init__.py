"""Make the Mistral 23.0.0 virtualenv and start/stop a real Mistral server (embedded or distributed)."""
from st2mistral_server.server import MODES, ServerInfo, start, status, stop
from st2mistral_server.venv import ensure_venv

__all__ = ["MODES", "ServerInfo", "ensure_venv", "start", "status", "stop"]
