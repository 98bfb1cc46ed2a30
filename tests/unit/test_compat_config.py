"""An st2.conf from a StackStorm 3.2 install keeps its meaning: [mistral] api_url without version,
retries bounded by retry_stop_max_msec, jitter_interval in seconds (a float)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from oslo_config import cfg

from mistral_v2 import config, mistral_v2, retries

# /etc/st2/st2.conf of a StackStorm 3.2 package install (conf/st2.package.conf of st2 v3.2.0),
# with the [mistral] section written the way 3.2's conf/st2.conf.sample lists it.
ST2_CONF_3_2 = Path(__file__).resolve().parents[1] / "fixtures" / "st2-3.2.conf"


@pytest.fixture
def conf_3_2(tmp_path):
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf(["--config-file", str(ST2_CONF_3_2)], project="st2", default_config_files=[])
    return conf


def test_st2_conf_of_a_3_2_install_parses_with_the_same_meaning(conf_3_2):
    m = conf_3_2.mistral
    assert m.v2_base_url == "http://127.0.0.1:8989/v2"
    assert m.jitter_interval == pytest.approx(0.1) and isinstance(m.jitter_interval, float)
    assert (m.retry_exp_msec, m.retry_exp_max_msec, m.retry_stop_max_msec) == (1000, 300000, 600000)
    assert m.retry_attempts is None            # ours; unset: only the time limit stops retries
    assert config.st2_api_url(m.api_url) == "http://127.0.0.1:9101/v1"


@pytest.mark.parametrize("value, expected", [
    ("http://127.0.0.1:9101", "http://127.0.0.1:9101/v1"),
    ("http://127.0.0.1:9101/", "http://127.0.0.1:9101/v1"),
    ("https://st2.example.com/api", "https://st2.example.com/api/v1"),
    ("https://st2.example.com/api/", "https://st2.example.com/api/v1"),
    ("https://st2.example.com/api/v1", "https://st2.example.com/api/v1"),
    ("https://st2.example.com/api/v1/", "https://st2.example.com/api/v1"),
    ("http://127.0.0.1:9101/v1", "http://127.0.0.1:9101/v1"),
    ("http://st2.example.com/v10", "http://st2.example.com/v10/v1"),
    (None, None),
    ("", None),
    ("  ", None),
])
def test_api_url_with_or_without_version(value, expected):
    assert config.st2_api_url(value) == expected


def test_runner_env_uses_the_3_2_api_url_with_v1_appended(conf_3_2, monkeypatch, tmp_path):
    monkeypatch.setattr(config, "get", lambda conf=None: conf_3_2.mistral)
    runner = mistral_v2.get_runner()
    api_url, public = runner._api_urls()
    assert api_url == "http://127.0.0.1:9101/v1" and public == api_url
    from mistral_v2 import context

    env = context.build_env("ex1", "ex1", {}, api_url)
    st2_ctx = env["__actions"]["st2.action"]["st2_context"]
    assert st2_ctx["api_url"] == "http://127.0.0.1:9101/v1"
    assert st2_ctx["endpoint"] == "http://127.0.0.1:9101/v1/actionexecutions"


class Down(Exception):
    pass


def _always_down(calls):
    def fn():
        calls.append(time.monotonic())
        raise Down("connection refused")
    return fn


def test_retries_stop_on_the_time_limit_not_after_five_attempts(conf_3_2):
    # StackStorm's rule: keep retrying until retry_stop_max_msec has passed (no attempt limit).
    conf_3_2.set_override("retry_stop_max_msec", 400, "mistral")
    conf_3_2.set_override("retry_exp_msec", 1, "mistral")
    conf_3_2.set_override("retry_exp_max_msec", 20, "mistral")
    conf_3_2.set_override("jitter_interval", 0.0, "mistral")
    calls = []
    with pytest.raises(Down):
        retries.from_options(conf_3_2.mistral, lambda e: isinstance(e, Down))(_always_down(calls))
    assert len(calls) > 5                      # more than our former fixed 5 attempts
    assert calls[-1] - calls[0] >= 0.35        # ... and it kept trying for about 0.4 s
    assert calls[-1] - calls[0] < 30           # then it stopped


def test_retry_attempts_still_limits_when_set(conf_3_2):
    conf_3_2.set_override("retry_attempts", 3, "mistral")
    conf_3_2.set_override("retry_exp_msec", 0, "mistral")
    calls = []
    slept = []
    with pytest.raises(Down):
        retries.from_options(conf_3_2.mistral, lambda e: isinstance(e, Down),
                             sleep=slept.append)(_always_down(calls))
    assert len(calls) == 3
    assert "up to 600 s or 3 attempt(s)" in retries.describe_limits(conf_3_2.mistral)


def test_jitter_interval_is_seconds(conf_3_2):
    conf_3_2.set_override("retry_attempts", 4, "mistral")
    conf_3_2.set_override("retry_exp_msec", 0, "mistral")
    conf_3_2.set_override("retry_exp_max_msec", 0, "mistral")
    conf_3_2.set_override("jitter_interval", 0.25, "mistral")
    slept = []
    with pytest.raises(Down):
        retries.from_options(conf_3_2.mistral, lambda e: isinstance(e, Down),
                             sleep=slept.append)(_always_down([]))
    assert len(slept) == 3 and all(0 <= s <= 0.25 for s in slept)
    assert max(slept) > 0.0                    # a jitter of up to 0.25 s, not 0.25 ms


def test_reverse_task_name_and_its_alias(monkeypatch):
    runner = mistral_v2.get_runner()
    runner.runner_parameters = {"task_name": "b"}
    assert runner._reverse_target() == "b"
    runner.runner_parameters = {"task": "b"}
    assert runner._reverse_target() == "b"
    runner.runner_parameters = {"task_name": "b", "task": "b"}
    assert runner._reverse_target() == "b"
    runner.runner_parameters = {}
    assert runner._reverse_target() is None
    runner.runner_parameters = {"task_name": "b", "task": "c"}
    from mistral_v2.exceptions import InvalidParametersError

    with pytest.raises(InvalidParametersError, match='task_name="b" and task="c" disagree'):
        runner._reverse_target()


def test_runner_yaml_declares_task_name_like_stackstorm():
    meta = mistral_v2.get_metadata()
    params = meta["runner_parameters"]
    assert params["task_name"]["type"] == "string"
    assert "task" in params and set(params) >= {"context", "skip_notify", "task_name", "workflow"}




def test_notify_settings_outside_stackstorm():
    from mistral_v2 import seam

    notify = {"on-complete": {"message": "done", "routes": ["slack"]}}
    assert seam.notify_settings(notify) is notify
    assert seam.notify_settings(None) == {} and seam.notify_settings({}) == {}
    with pytest.raises(TypeError, match="notify must be a dict"):
        seam.notify_settings(object())


def test_local_host_keeps_a_few_attempts_by_default(tmp_path):
    from st2mistral_local import host

    settings = host.HostSettings(state_dir=str(tmp_path), api_url="http://127.0.0.1:1/api/v1")
    try:
        conf = host._register_mistral_options(settings)
        assert conf.mistral.retry_attempts == host.HOST_RETRY_ATTEMPTS == 5
        conf.set_override("retry_attempts", 9, "mistral")      # e.g. from --config-file
        host._register_mistral_options(settings)
        assert conf.mistral.retry_attempts == 9
    finally:
        cfg.CONF.clear_override("retry_attempts", "mistral")
        cfg.CONF.clear_override("api_url", "mistral")
        cfg.CONF.set_default("retry_attempts", None, "mistral")
