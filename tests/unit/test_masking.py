"""The one masker (mistral_v2.masking): by key rule, by secret parameter name, by value inside strings."""
from __future__ import annotations

import logging

from mistral_v2 import masking
from mistral_v2.masking import MASK

SECRET = "hunter2-9f8e7d"
TOKEN = "0123456789abcdef0123456789abcdef"


def test_masks_by_key_rule_and_by_name():
    value = {"auth_token": "t0k3n-xyz", "st2_api_key": "k3y-abc", "Password": "pw-12345", "db_pass": "p",
             "x": {"private_key": "-----BEGIN", "credentials": "c-1234"}, "ok": "visible",
             "secret": True, "secret_parameters": ["db_pass"], "token_count": None}
    out = masking.mask(value, ["db_pass"])
    assert out["auth_token"] == out["st2_api_key"] == out["Password"] == MASK
    assert out["db_pass"] == MASK  # named: masked even when short
    assert out["x"] == {"private_key": MASK, "credentials": MASK}
    assert out["ok"] == "visible" and out["secret"] is True and out["token_count"] is None
    assert out["secret_parameters"] == ["db_pass"]  # names, not values
    assert value["auth_token"] == "t0k3n-xyz"  # a copy


def test_masks_values_under_any_key_and_inside_strings():
    value = {"stdout": "connecting with %s to db" % SECRET, "list": [SECRET, "a"],
             "nested": {"cmd": "curl -H 'X-Auth-Token: %s' http://x" % TOKEN}, "n": 5}
    out = masking.mask(value, (), [SECRET, TOKEN])
    assert out == {"stdout": "connecting with %s to db" % MASK, "list": [MASK, "a"],
                   "nested": {"cmd": "curl -H 'X-Auth-Token: %s' http://x" % MASK}, "n": 5}


def test_short_and_non_string_values_are_masked_by_key_only():
    out = masking.mask({"pin": 42, "text": "the answer is 42", "p": "ab"}, ["pin", "p"], [42, "ab"])
    assert out == {"pin": MASK, "text": "the answer is 42", "p": MASK}


def test_structured_secret_values_mask_their_leaves():
    out = masking.mask({"echo": "user admin pass s3cr3t-pass"}, (), [{"user": "admin", "pass": "s3cr3t-pass"}])
    assert out == {"echo": "user %s pass %s" % (MASK, MASK)}


def test_secret_values_and_names_helpers():
    assert masking.secret_names({"a": {"secret": True}, "b": {"type": "string"}, "c": "x"}) == ["a"]
    assert masking.secret_values({"a": SECRET, "b": "x"}, ["a", "missing"], TOKEN, None) == [SECRET, TOKEN]
    env = {"__actions": {"st2.action": {"st2_context": {"auth_token": TOKEN, "api_url": "u"}}}}
    assert masking.env_credentials(env) == [TOKEN]
    assert masking.env_credentials({"__actions": "junk"}) == []


def test_log_filter_masks_remembered_values_and_credential_pairs(caplog):
    masking.remember([SECRET + "-log"])
    logger = logging.getLogger("test_masking_filter")
    flt = masking.LogFilter()
    logger.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="test_masking_filter"):
            logger.info("input %s", {"x": SECRET + "-log"})
            logger.info("GET /api/v1/executions?x-auth-token=abcdef123&st2-api-key=zzz HTTP/1.1")
            logger.info("env {'auth_token': 'abc123456'}")
    finally:
        logger.removeFilter(flt)
    text = caplog.text
    assert SECRET + "-log" not in text and "abcdef123" not in text and "zzz" not in text
    assert "abc123456" not in text and text.count(MASK) >= 4
