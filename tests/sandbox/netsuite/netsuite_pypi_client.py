"""Runs inside the separate virtualenv that has the ``netsuite`` PyPI package (0.12.0).

Usage: ``python netsuite_pypi_client.py '<sandbox info JSON>'``. Talks to the sandbox with the
package's ``NetSuiteRestApi`` and ``TokenAuth`` unchanged, except ``_make_url`` pointed at the
sandbox, and prints one JSON object with what it saw. Exceptions propagate (non-zero exit).
"""

import asyncio
import json
import sys

from netsuite import Config, TokenAuth
from netsuite.rest_api import NetSuiteRestApi

INFO = json.loads(sys.argv[1])


class LocalNetSuiteRestApi(NetSuiteRestApi):
    def _make_url(self, subpath):
        return f"{INFO['base_url']}/services/rest{subpath}"


async def main():
    api = LocalNetSuiteRestApi(
        Config(
            account=INFO["account_id"],
            auth=TokenAuth(
                consumer_key=INFO["consumer_key"],
                consumer_secret=INFO["consumer_secret"],
                token_id=INFO["token_id"],
                token_secret=INFO["token_secret"],
            ),
        )
    )
    out = {}
    created = await api.request(
        "POST",
        "/record/v1/customer",
        json={"companyName": "PyPI Client Co", "subsidiary": {"id": "2"}, "email": "ap@pypi.example"},
    )
    out["create_status"] = created.status_code
    out["location"] = created.headers.get("location")
    cid = created.headers["location"].rsplit("/", 1)[1]
    out["get"] = await api.get(f"/record/v1/customer/{cid}")
    out["patch"] = await api.patch(f"/record/v1/customer/{cid}", json={"phone": "+1 512 555 0100"})
    out["after_patch"] = await api.get(f"/record/v1/customer/{cid}", params={"fields": "phone,companyName"})
    out["put_create"] = await api.put(
        "/record/v1/customer/eid:SF-PYPI-001", json={"companyName": "Upserted Co", "subsidiary": {"id": "2"}}
    )
    out["put_update"] = await api.put(
        "/record/v1/customer/eid:SF-PYPI-001", json={"email": "up@pypi.example"}
    )
    out["upserted"] = await api.get("/record/v1/customer/eid:SF-PYPI-001")
    out["list"] = await api.get("/record/v1/customer", params={"q": 'companyName START_WITH "PyPI"'})
    out["page1"] = await api.suiteql("SELECT id, companyname FROM customer ORDER BY id", limit=2, offset=0)
    out["page2"] = await api.suiteql("SELECT id, companyname FROM customer ORDER BY id", limit=2, offset=2)
    spec = await api.openapi(["customer", "salesOrder"])
    out["openapi_paths"] = sorted(spec["paths"])
    out["jsonschema_title"] = (await api.jsonschema("customer"))["title"]
    out["delete"] = await api.delete(f"/record/v1/customer/{cid}")
    try:
        await api.get(f"/record/v1/customer/{cid}")
    except Exception as exc:  # NetsuiteAPIRequestError
        out["after_delete"] = str(exc)[:200]
    print(json.dumps(out))


asyncio.run(main())
