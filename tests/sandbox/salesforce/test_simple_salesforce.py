"""The unmodified simple-salesforce client against the sandbox over real HTTPS.

simple-salesforce rewrites every URL to ``https://`` (reference python-stack §1), so the sandbox
serves TLS with a local CA; the client gets a ``requests.Session`` that trusts that CA and
ignores proxy/CA environment variables (``trust_env = False``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from ledgerbridge_sandbox.salesforce import (
    DEFAULT_CLIENT_ID,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
    SalesforceSandboxConfig,
)
from ledgerbridge_sandbox.salesforce.testing import SalesforceSandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(SalesforceSandboxConfig(seed="demo"), tls=True) as sf:
        yield sf


@pytest.fixture
def session(sandbox: SalesforceSandbox) -> Iterator[requests.Session]:
    s = requests.Session()
    s.verify = sandbox.info["ca_file"]
    s.trust_env = False
    yield s
    s.close()


@pytest.fixture
def sf(sandbox: SalesforceSandbox, session: requests.Session) -> Salesforce:
    return Salesforce(instance_url=sandbox.url, session_id=sandbox.token, session=session, version="62.0")


def test_soap_password_login(sandbox: SalesforceSandbox, session: requests.Session) -> None:
    session_id, instance = SalesforceLogin(
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        security_token=DEFAULT_SECURITY_TOKEN,
        session=session,
        scratch_url=sandbox.url,
        sf_version="59.0",
    )
    assert instance == sandbox.url.removeprefix("https://")
    sf = Salesforce(instance=instance, session_id=session_id, session=session)
    assert (
        sf.query("SELECT Id FROM User WHERE Username = 'integration@ledgerbridge.sandbox'")["totalSize"] == 1
    )


def test_password_login_through_the_salesforce_class(
    sandbox: SalesforceSandbox, session: requests.Session
) -> None:
    # simple-salesforce builds https://{domain}.salesforce.com/...; a URL fragment swallows the suffix.
    domain = f"{sandbox.url.removeprefix('https://')}/services/Soap/u/59.0#"
    sf = Salesforce(
        username=DEFAULT_USERNAME,
        password=DEFAULT_PASSWORD,
        security_token=DEFAULT_SECURITY_TOKEN,
        domain=domain,
        session=session,
    )
    assert sf.sf_instance == sandbox.url.removeprefix("https://")
    assert sf.Account.describe()["name"] == "Account"


def test_jwt_login_through_the_salesforce_class(
    sandbox: SalesforceSandbox, session: requests.Session
) -> None:
    host = sandbox.url.removeprefix("https://")
    sf = Salesforce(
        username=DEFAULT_USERNAME,
        consumer_key=DEFAULT_CLIENT_ID,
        privatekey_file=sandbox.info["jwt_private_key_file"],
        domain="login",
        instance_url=f"{host}/services/oauth2/token#",
        session=session,
    )
    assert sf.limits()["DailyApiRequests"]["Max"] > 0


def test_session_id_login_describe_and_limits(sf: Salesforce) -> None:
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Account", "Opportunity", "SBQQ__DiscountSchedule__c"} <= names
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert fields["NetSuite_Id__c"]["externalId"] and fields["NetSuite_Id__c"]["unique"]
    assert fields["Customer_Success_Owner__c"]["referenceTo"] == ["User"]
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert sf.api_usage["api-usage"].total == 100_000
    assert sf.is_sandbox() is False


def test_query_query_all_and_query_more_across_pages(sf: Salesforce) -> None:
    opts = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query("SELECT Id, Name FROM OpportunityLineItem", headers=opts)
    assert first["done"] is False and len(first["records"]) == 200
    total = first["totalSize"]
    assert total > 600
    page = first
    seen = len(page["records"])
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=opts)
        seen += len(page["records"])
    assert seen == total
    everything = sf.query_all("SELECT Id, Account.Name FROM Contact")
    assert everything["totalSize"] == 400 and len(everything["records"]) == 400
    assert everything["records"][0]["Account"]["Name"]


def test_create_get_update_upsert_delete(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    created = sf.Account.create({"Name": "Simple Salesforce Co", "Phone": "1"})
    assert created["success"] is True
    rid = created["id"]
    assert sf.Account.get(rid)["Name"] == "Simple Salesforce Co"
    assert sf.Account.update(rid, {"Phone": "2"}) == 204
    assert sf.Account.get(rid)["Phone"] == "2"
    assert sf.Account.upsert("NetSuite_Id__c/SS-1", {"Name": "Upserted Co"}) == 201
    assert sf.Account.upsert("NetSuite_Id__c/SS-1", {"Phone": "3"}) == 200
    assert sf.Account.get_by_custom_id("NetSuite_Id__c", "SS-1")["Phone"] == "3"
    assert sf.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(rid)
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Contact.create({"FirstName": "No last name"})
    assert info.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    # getDeleted covers whole minutes up to now: move the sandbox clock past this minute.
    sandbox.call(lambda state: state.config.clock.advance(120))
    now = datetime.now(UTC)
    deleted = sf.Account.deleted(now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert rid in [d["id"] for d in deleted["deletedRecords"]]
    updated = sf.Account.updated(now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert "ids" in updated


def test_collections_and_composite_through_restful(sf: Salesforce) -> None:
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Coll One"},
                {"attributes": {"type": "Account"}, "Name": "Coll Two"},
            ],
        },
    )
    assert [r["success"] for r in results] == [True, True]
    out = sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {
                    "method": "GET",
                    "url": f"/services/data/v62.0/sobjects/Account/{results[0]['id']}",
                    "referenceId": "a",
                }
            ]
        },
    )
    assert out["compositeResponse"][0]["body"]["Name"] == "Coll One"


def test_bulk2_insert_and_query(sf: Salesforce) -> None:
    records = [{"Name": f"Bulk Co {i}", "NetSuite_Id__c": f"B-{i}"} for i in range(25)]
    result = sf.bulk2.Account.insert(records=records, wait=0)
    assert result[0]["numberRecordsProcessed"] == 25 and result[0]["numberRecordsFailed"] == 0
    job_id = result[0]["job_id"]
    assert (
        len(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(job_id))).fieldnames or []) > 2
    )
    pages = list(
        sf.bulk2.Account.query(
            "SELECT Id, Name FROM Account WHERE NetSuite_Id__c LIKE 'B-%'", max_records=10, wait=0
        )
    )
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(pages) == 3 and len(rows) == 25
    assert {r["Name"] for r in rows} == {f"Bulk Co {i}" for i in range(25)}
