"""Poll a Mistral execution until it reaches one of the wanted states (used by tests and tools)."""
from __future__ import annotations

import time
from typing import Any, Iterable, Union

from mistral_v2 import statuses
from mistral_v2.exceptions import MistralError

TERMINAL_STATES = frozenset({statuses.SUCCESS, statuses.ERROR, statuses.CANCELLED})


def wait_for_state(client: Any, execution_id: str, states: Union[str, Iterable[str]],
                   timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Return the execution (python-mistralclient object) once its state is in `states`.

    Raises MistralError naming the last state and state_info when the execution ends in another
    terminal state (no point waiting) or `timeout` seconds pass.
    """
    wanted = {states} if isinstance(states, str) else set(states)
    if not wanted:
        raise MistralError("wait_for_state needs at least one state to wait for")
    deadline = time.monotonic() + timeout
    while True:
        execution = client.executions.get(execution_id)
        if execution.state in wanted:
            return execution
        if execution.state in TERMINAL_STATES:
            raise MistralError(f"execution {execution_id} ended {execution.state} (wanted "
                               f"{'/'.join(sorted(wanted))}): {execution.state_info}")
        if time.monotonic() >= deadline:
            raise MistralError(f"execution {execution_id} still {execution.state} after {timeout} s "
                               f"(wanted {'/'.join(sorted(wanted))}): {execution.state_info}")
        time.sleep(interval)
