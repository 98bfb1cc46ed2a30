"""Wires the host together: state dir, store, auth, key-value store, container, reconciler, config."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

from oslo_config import cfg

from mistral_v2 import config as mistral_config
from mistral_v2 import masking
from mistral_v2.exceptions import ConfigurationError
from st2mistral_local import auth, kv, live_params, packs
from st2mistral_local.container import Container
from st2mistral_local.store import Store
from st2mistral_local.sync import Reconciler

LOG = logging.getLogger(__name__)

DEFAULT_QUERY_INTERVAL = 5.0
# Executions per query_many call of the reconciler. query_many chunks its Mistral filters by
# [mistral] query_batch_size itself; smaller reconciler batches would re-list the same tasks once
# per batch (1000 running: 54 calls and 13.5 s per cycle in batches of 100, 17 calls and 3 s in one).
RECONCILE_BATCH = 2000


def default_home() -> str:
    """$ST2MISTRAL_HOME or ~/.st2mistral."""
    return os.environ.get("ST2MISTRAL_HOME") or os.path.join(os.path.expanduser("~"), ".st2mistral")


def state_dir(home: Optional[str] = None) -> str:
    """Where the local host keeps its state: <home>/local."""
    return os.path.join(home or default_home(), "local")


@dataclass
class HostSettings:
    """Everything `serve` needs; the URLs are what runners and Mistral use to reach us."""

    state_dir: str
    api_url: str  # public StackStorm API base incl. /api/v1
    mistral_url: Optional[str] = None  # Mistral v2 base URL (http://host:port/v2)
    pack_dirs: List[str] = field(default_factory=list)
    query_interval: Optional[float] = None
    workers: int = 8


def load_config_file(path: str) -> None:
    """Parse an oslo.config file (its [mistral] section configures the runner and the reconciler)."""
    from mistral_v2 import config as mistral_config

    if not os.path.isfile(path):
        raise ConfigurationError("Config file %s does not exist." % path)
    mistral_config.register_opts(conf=cfg.CONF)
    try:
        cfg.CONF(["--config-file", path], project="st2mistral", default_config_files=[])
    except cfg.Error as exc:
        raise ConfigurationError("Cannot read config file %s: %s" % (path, exc)) from exc


HOST_RETRY_ATTEMPTS = 5


def _register_mistral_options(settings: HostSettings) -> cfg.ConfigOpts:
    """Register the runner's `[mistral]` options and point them at Mistral and at this host."""
    mistral_config.register_opts(conf=cfg.CONF)
    if "mistral" in cfg.CONF:
        group = cfg.CONF.mistral
        if settings.mistral_url and "v2_base_url" in group:
            cfg.CONF.set_override("v2_base_url", settings.mistral_url, group="mistral")
        if "api_url" in group:
            cfg.CONF.set_override("api_url", settings.api_url, group="mistral")
        if "retry_attempts" in group:
            # A person is waiting on the local host: fail a call to an unreachable Mistral after a
            # few attempts (StackStorm's rule, [mistral] retry_stop_max_msec alone, can take 10
            # minutes). A --config-file setting still wins.
            cfg.CONF.set_default("retry_attempts", HOST_RETRY_ATTEMPTS, group="mistral")
    return cfg.CONF


def _mistral_option(name: str, default: float) -> float:
    try:
        return float(getattr(cfg.CONF.mistral, name))
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, AttributeError, TypeError, ValueError):
        return default


_SERVICE_KEYS: List[str] = []


def _use_service_key(key: str) -> None:
    """Make the host's in-memory service key the runner's `[mistral] api_key` (Mistral with
    auth_type = st2 asks this host whether it is valid) unless the operator configured one."""
    current = cfg.CONF.mistral.api_key
    if current is None or current in _SERVICE_KEYS:
        _SERVICE_KEYS.append(key)
        cfg.CONF.set_override("api_key", key, group="mistral")
    masking.remember([key])


class Host:
    """One running host: owns the store and the background threads."""

    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings
        os.makedirs(settings.state_dir, mode=0o700, exist_ok=True)
        _register_mistral_options(settings)
        self.store = Store(os.path.join(settings.state_dir, "host.sqlite"))
        self.users_path = os.path.join(settings.state_dir, "users.yaml")
        auth.ensure_users_file(self.users_path)
        self.auth = auth.Authenticator(self.store, self.users_path)
        _use_service_key(self.auth.service_key)
        self.kv = kv.KeyValueStore(self.store, kv.load_cipher(os.path.join(settings.state_dir, "kv.key")))
        renderer = live_params.Renderer(self._stored_key, self.kv.decrypt)
        self.container = Container(self.store, self.auth, workers=settings.workers, renderer=renderer)
        interval = settings.query_interval or _mistral_option("query_interval", DEFAULT_QUERY_INTERVAL)
        self.reconciler = Reconciler(self.store, self.container, interval=interval, batch_size=RECONCILE_BATCH)

    def _stored_key(self, scope: str, name: str, user: str) -> Optional[str]:
        """A key's stored value (ciphertext for secrets) for parameter rendering; None when absent."""
        doc = self.kv.get(name, scope, user or None, False, user or "stanley")
        return doc["value"] if doc else None

    def register_packs(self) -> List[str]:
        """Register core, this repo's pack and the configured pack dirs."""
        return packs.register_all(self.store, self.settings.pack_dirs)

    def start(self) -> None:
        """Recover after a restart and start the reconciler."""
        reset = self.store.reset_interrupted_callbacks()
        counts = self.container.recover()
        LOG.info("recovered executions: %s; interrupted callbacks to retry: %d", counts, reset)
        self.reconciler.start()

    def stop(self) -> None:
        """Stop background work and close the store."""
        self.container.shutdown()
        self.reconciler.stop()
