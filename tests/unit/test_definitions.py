"""Reading, naming, transforming and uploading definitions."""
import os
import textwrap

import pytest
import yaml

from mistral_v2 import definitions
from mistral_v2.exceptions import DefinitionError, InvalidParametersError, WorkflowNotFoundError

WORKFLOW = """
version: '2.0'
pk.act:
  tasks:
    t1:
      action: core.local cmd="echo hi" timeout=5
      on-success: [t2]
    t2:
      action: pk.other
      input:
        x: <% $.y %>
    t3:
      action: std.echo output=hi
"""

WORKBOOK = """
version: '2.0'
name: pk.wb
workflows:
  main:
    tasks:
      a:
        workflow: sub
  sub:
    tasks:
      b:
        action: std.noop
"""


def _write(tmp_path, text, name="wf.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


LOOKUP_META = {
    "core.local": {"cmd": {"type": "string", "required": True}, "timeout": {"type": "integer", "default": 60}},
    "pk.other": {"x": {"type": "string"}},
}


def lookup(ref):
    return LOOKUP_META.get(ref)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DefinitionError, match="does not exist"):
        definitions.read_definition(str(tmp_path / "nope.yaml"))


def test_invalid_yaml_is_a_clear_error(tmp_path):
    with pytest.raises(DefinitionError, match="not valid YAML"):
        definitions.read_definition(_write(tmp_path, "version: '2.0'\nx: [unclosed\n"))


def test_non_mapping_is_rejected(tmp_path):
    with pytest.raises(DefinitionError, match="must hold a YAML mapping"):
        definitions.read_definition(_write(tmp_path, "- a\n- b\n"))


def test_missing_version_is_rejected(tmp_path):
    with pytest.raises(DefinitionError, match="version"):
        definitions.read_definition(_write(tmp_path, "pk.act: {tasks: {}}\n"))


def test_workflow_must_be_named_after_action(tmp_path):
    with pytest.raises(DefinitionError, match='named "pk.act".*"pk.other"'):
        definitions.prepare(_write(tmp_path, WORKFLOW), "pk.other", lookup=lookup)


def test_workflow_file_with_two_workflows_is_rejected(tmp_path):
    text = "version: '2.0'\npk.a: {tasks: {}}\npk.b: {tasks: {}}\n"
    with pytest.raises(DefinitionError, match="exactly one workflow, found 2"):
        definitions.prepare(_write(tmp_path, text), "pk.a")


def test_workbook_name_must_match_action(tmp_path):
    with pytest.raises(DefinitionError, match='workbook .* named "pk.wb"'):
        definitions.prepare(_write(tmp_path, WORKBOOK), "pk.other", "pk.other.main")


def test_workbook_with_many_workflows_needs_workflow_param(tmp_path):
    with pytest.raises(DefinitionError, match="set runner parameter workflow"):
        definitions.prepare(_write(tmp_path, WORKBOOK), "pk.wb")


def test_workbook_workflow_param_must_name_a_workflow(tmp_path):
    with pytest.raises(DefinitionError, match='workflow="pk.wb.nope".*pk.wb.main, pk.wb.sub'):
        definitions.prepare(_write(tmp_path, WORKBOOK), "pk.wb", "pk.wb.nope")


def test_workbook_entry_workflow_resolution(tmp_path):
    prepared = definitions.prepare(_write(tmp_path, WORKBOOK), "pk.wb", "pk.wb.sub")
    assert (prepared.kind, prepared.workflow_name, prepared.workbook_name) == ("workbook", "pk.wb.sub", "pk.wb")


def test_single_workflow_workbook_is_automatic(tmp_path):
    text = "version: '2.0'\nname: pk.wb\nworkflows:\n  only:\n    tasks: {a: {action: std.noop}}\n"
    assert definitions.prepare(_write(tmp_path, text), "pk.wb").workflow_name == "pk.wb.only"


def test_st2_actions_are_rewritten_to_st2_action(tmp_path):
    prepared = definitions.prepare(_write(tmp_path, WORKFLOW), "pk.act", lookup=lookup)
    tasks = yaml.safe_load(prepared.text)["pk.act"]["tasks"]
    assert tasks["t1"]["action"] == "st2.action"
    assert tasks["t1"]["input"] == {"ref": "core.local", "parameters": {"cmd": "echo hi", "timeout": 5}}
    assert tasks["t1"]["on-success"] == ["t2"]
    assert tasks["t2"]["input"] == {"ref": "pk.other", "parameters": {"x": "<% $.y %>"}}
    assert tasks["t3"] == {"action": "std.echo output=hi"}


def test_without_lookup_mistral_actions_are_left_alone(tmp_path):
    text = WORKFLOW.replace("pk.other", "custom.mistral_action")
    prepared = definitions.prepare(_write(tmp_path, text), "pk.act",
                                   mistral_actions=lambda: {"custom.mistral_action"})
    tasks = yaml.safe_load(prepared.text)["pk.act"]["tasks"]
    assert tasks["t1"]["input"]["ref"] == "core.local"
    assert tasks["t2"]["action"] == "custom.mistral_action"


def test_workbook_local_workflow_names_are_not_st2_actions(tmp_path):
    text = WORKBOOK.replace("workflow: sub", "action: pk.wb.sub")
    prepared = definitions.prepare(_write(tmp_path, text), "pk.wb", "pk.wb.main")
    main = yaml.safe_load(prepared.text)["workflows"]["main"]
    assert main["tasks"]["a"]["action"] == "pk.wb.sub"


def test_unknown_st2_parameter_is_rejected(tmp_path):
    text = WORKFLOW.replace('timeout=5', 'bogus=1')
    with pytest.raises(InvalidParametersError, match='Task "t1".*core.local.*unexpected parameter.*"bogus"'):
        definitions.prepare(_write(tmp_path, text), "pk.act", lookup=lookup)


def test_missing_required_st2_parameter_is_rejected(tmp_path):
    text = WORKFLOW.replace('cmd="echo hi" ', '')
    with pytest.raises(InvalidParametersError, match='missing required parameter.*"cmd"'):
        definitions.prepare(_write(tmp_path, text), "pk.act", lookup=lookup)


def test_st2_callback_is_refused(tmp_path):
    text = WORKFLOW.replace("action: pk.other", "action: st2.callback")
    with pytest.raises(DefinitionError, match="st2.callback"):
        definitions.prepare(_write(tmp_path, text), "pk.act", lookup=lookup)


@pytest.mark.parametrize(
    "inline, expected",
    [
        ('core.local cmd="echo a b"', ("core.local", {"cmd": "echo a b"})),
        ("core.local cmd='x=1' n=3 ok=true none=null",
         ("core.local", {"cmd": "x=1", "n": 3, "ok": True, "none": None})),
        ("a.b v=<% $.x + 1 %> w={{ _.y }}", ("a.b", {"v": "<% $.x + 1 %>", "w": "{{ _.y }}"})),
        ("a.b l=[1, 2] d={\"k\": 1}", ("a.b", {"l": [1, 2], "d": {"k": 1}})),
        ("std.noop", ("std.noop", {})),
    ],
)
def test_parse_inline(inline, expected):
    assert definitions.parse_inline(inline) == expected


def test_unparsable_inline_is_a_definition_error(tmp_path):
    text = WORKFLOW.replace('cmd="echo hi"', 'cmd="echo hi')
    with pytest.raises(DefinitionError, match='Task "t1".*cannot parse'):
        definitions.prepare(_write(tmp_path, text), "pk.act", lookup=lookup)


class FakeAPI:
    url = "http://fake/v2"

    def __init__(self):
        self.store = {}  # name -> (kind, definition)
        self.calls = []

    def _get(self, kind, name):
        self.calls.append(("get_" + kind, name))
        if self.store.get(name, (None,))[0] != kind:
            raise WorkflowNotFoundError("%s %s not found" % (kind, name), 404)
        return {"definition": self.store[name][1]}

    def get_workflow(self, name):
        return self._get("workflow", name)

    def get_workbook(self, name):
        return self._get("workbook", name)

    def _put(self, op, kind, text):
        self.calls.append((op + "_" + kind,))
        spec = yaml.safe_load(text)
        name = spec["name"] if kind == "workbook" else [k for k in spec if k != "version"][0]
        self.store[name] = (kind, text)

    def create_workflow(self, text):
        self._put("create", "workflow", text)

    def update_workflow(self, text):
        self._put("update", "workflow", text)

    def create_workbook(self, text):
        self._put("create", "workbook", text)

    def update_workbook(self, text):
        self._put("update", "workbook", text)

    def _delete(self, kind, name):
        self.calls.append(("delete_" + kind, name))
        if self.store.get(name, (None,))[0] != kind:
            raise WorkflowNotFoundError("nope", 404)
        del self.store[name]

    def delete_workflow(self, name):
        self._delete("workflow", name)

    def delete_workbook(self, name):
        self._delete("workbook", name)


def test_sync_uploads_only_when_changed_and_swaps_kinds(tmp_path):
    api = FakeAPI()
    api.url = "http://fake-%s/v2" % tmp_path.name
    wf = definitions.prepare(_write(tmp_path, "version: '2.0'\npk.x:\n  tasks: {a: {action: std.noop}}\n"), "pk.x")
    assert definitions.sync(api, wf) is True
    assert api.store["pk.x"][0] == "workflow"
    assert definitions.sync(api, wf) is False  # remembered: no call at all
    definitions.forget_upload(api, "pk.x")
    api.calls.clear()
    assert definitions.sync(api, wf) is False  # checked, identical: no update
    assert [c[0] for c in api.calls] == ["get_workflow"]
    wb_text = "version: '2.0'\nname: pk.x\nworkflows:\n  m:\n    tasks: {a: {action: std.noop}}\n"
    wb = definitions.prepare(_write(tmp_path, wb_text, "wb.yaml"), "pk.x")
    assert definitions.sync(api, wb) is True
    assert api.store["pk.x"][0] == "workbook"
    assert ("delete_workflow", "pk.x") in api.calls
    changed = definitions.prepare(_write(tmp_path, wb_text.replace("{a:", "{b:"), "wb2.yaml"), "pk.x")
    api.calls.clear()
    assert definitions.sync(api, changed) is True
    assert [c[0] for c in api.calls] == ["get_workbook", "update_workbook"]


def test_prepare_parses_a_file_once_until_it_changes(tmp_path, monkeypatch):
    path = _write(tmp_path, WORKFLOW)
    reads = []
    real_read = definitions.read_definition
    monkeypatch.setattr(definitions, "read_definition", lambda p: reads.append(p) or real_read(p))
    first = definitions.prepare(path, "pk.act", lookup=lookup)
    again = definitions.prepare(path, "pk.act", lookup=lookup)
    assert len(reads) == 1 and again.text == first.text
    # an edit of the same size: another mtime
    (tmp_path / "wf.yaml").write_text(textwrap.dedent(WORKFLOW).replace("echo hi", "echo ho"))
    os.utime(path, ns=(1, 1))
    changed = definitions.prepare(path, "pk.act", lookup=lookup)
    assert len(reads) == 2 and "echo ho" in changed.text and "echo hi" not in changed.text
    (tmp_path / "wf.yaml").unlink()
    with pytest.raises(DefinitionError, match="does not exist"):
        definitions.prepare(path, "pk.act", lookup=lookup)
