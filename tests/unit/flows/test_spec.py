from __future__ import annotations

import pytest

from ledgerbridge.core.errors import FlowSpecError
from ledgerbridge.core.records import System
from ledgerbridge.flows.config import LedgerBridgeConfig
from ledgerbridge.flows.load import load_config_text
from ledgerbridge.flows.mapping import validate_links
from ledgerbridge.flows.spec import ConflictPolicySpec, Direction, LinkSpec, link_order, link_problems

YAML = """\
version: 1
links:
  accounts:
    salesforce: Account
    netsuite: customer
    fields:
      - salesforce: Name
        netsuite: companyName
      - salesforce: Phone
        netsuite: phone
        transform: phonee
        bogus: 1
    conflict: {owner: nobody}
    triggers:
      - cron: "61 * * * *"
"""


def test_every_problem_is_reported_with_its_line():
    with pytest.raises(FlowSpecError) as info:
        load_config_text(YAML, source="ledgerbridge.yaml", env={})
    problems = info.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("ledgerbridge.yaml:11:") and "unknown transform 'phonee'" in problems[0]
    assert problems[1].startswith("ledgerbridge.yaml:12:") and "bogus" in problems[1]
    assert problems[2].startswith("ledgerbridge.yaml:13:") and "owner" in problems[2]
    assert problems[3].startswith("ledgerbridge.yaml:15:") and "cron minute" in problems[3]


CROSS = """\
links:
  orders:
    salesforce: Opportunity
    netsuite: salesOrder
    direction: to_netsuite
    fields:
      - salesforce: AccountId
        netsuite: entity
        ref: acounts
      - netsuite: memo
        to_netsuite: "$bogus("
"""


def test_cross_link_and_mapping_problems_carry_lines_too():
    loaded = load_config_text(CROSS, source="f.yaml", env={})
    with pytest.raises(FlowSpecError) as info:
        validate_links(loaded.config.links, loaded.document.where, source="f.yaml")
    text = "\n".join(info.value.problems)
    assert "f.yaml:7:9: links.orders.fields[0]: ref to unknown link 'acounts'" in text
    assert "f.yaml:10:9: links.orders.fields[1]: expression does not parse" in text


def test_json_schema_is_available_for_editors():
    schema = LedgerBridgeConfig.model_json_schema()
    assert "LinkSpec" in schema["$defs"] and "FieldMapSpec" in schema["$defs"]


@pytest.mark.parametrize(("text", "policy", "owner"), [
    ("newest", "newest", None), ("review", "review", None), ("netsuite", "owner", "netsuite"),
    ({"owner": "salesforce"}, "owner", "salesforce"),
])
def test_conflict_policy_shorthands(text, policy, owner):
    c = ConflictPolicySpec.model_validate(text)
    assert (c.policy, c.owner) == (policy, owner)


def test_field_direction_defaults_to_the_link_and_constants_flow_to_their_side():
    link = LinkSpec.model_validate({"salesforce": "Opportunity", "netsuite": "salesOrder",
                                    "direction": "to_netsuite", "fields": [
                                        {"salesforce": "Name", "netsuite": "memo"},
                                        {"netsuite": "orderStatus", "value": "B"},
                                        {"salesforce": "NS_Id__c", "netsuite": "id",
                                         "direction": "to_salesforce"}]})
    assert [f.key for f in link.fields_to(System.NETSUITE)] == ["Name", "orderStatus"]
    assert [f.key for f in link.fields_to(System.SALESFORCE)] == ["NS_Id__c"]
    assert Direction.TO_NETSUITE.flows_to(System.NETSUITE)


@pytest.mark.parametrize("field", [
    {"salesforce": "A", "netsuite": "b", "value": 1},
    {"salesforce": ["A", "B"], "netsuite": "c"},
    {"netsuite": "x", "to_salesforce": "1"},
    {"salesforce": "A", "netsuite": "b", "value_map": {"x": 1}, "to_netsuite": "A"},
    {},
])
def test_incoherent_fields_are_refused(field):
    with pytest.raises(ValueError):
        LinkSpec.model_validate({"salesforce": "A", "netsuite": "b", "fields": [field]})


def test_link_order_puts_parents_first_and_refuses_cycles():
    a = LinkSpec.model_validate({"salesforce": "Account", "netsuite": "customer",
                                 "fields": [{"salesforce": "ParentId", "netsuite": "parent", "ref": "a"}]})
    o = LinkSpec.model_validate({"salesforce": "Opportunity", "netsuite": "salesOrder", "fields": [
        {"netsuite": "item", "to_netsuite": '{"items": [L.{"item": {"id": $ref("p", P)}}]}'},
        {"salesforce": "AccountId", "netsuite": "entity", "ref": "a"}]})
    p = LinkSpec.model_validate({"salesforce": "Product2", "netsuite": "item",
                                 "fields": [{"salesforce": "Name", "netsuite": "itemId"}]})
    assert link_order({"o": o, "a": a, "p": p}) == ["a", "p", "o"]
    cyc = LinkSpec.model_validate({"salesforce": "X", "netsuite": "y",
                                   "fields": [{"salesforce": "A", "netsuite": "b", "ref": "o"}]})
    o2 = LinkSpec.model_validate({"salesforce": "O", "netsuite": "o",
                                  "fields": [{"salesforce": "A", "netsuite": "b", "ref": "x"}]})
    problems = link_problems({"x": cyc, "o": o2})
    assert any("cycle" in pr.message for pr in problems)
