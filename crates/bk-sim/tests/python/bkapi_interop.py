"""Drives bk-sim with the official Python SDK core, bkapi-client-core (PyPI, 1.2.0).

The client is declared the way the official component SDKs (bkapi-component-open) declare
theirs: an ESBClient subclass whose components are OperationGroups, each API an Operation
bound with bind_property, the path templated with {bk_api_ver}. Credentials go in the
X-Bkapi-Authorization header through update_bkapi_authorization, as the SDK always does.

Reads BK_COMPONENT_API_URL, BK_APP_CODE, BK_APP_SECRET and BK_USERNAME; prints one JSON
object on stdout with every answer and what was sent, for the Rust test
(crates/bk-sim/tests/python_interop.rs) to check.
"""

import json
import os
import sys
from urllib.parse import parse_qsl, urlsplit

import bkapi_client_core
from bkapi_client_core.esb import ESBClient, Operation, OperationGroup, bind_property
from bkapi_client_core.exceptions import APIGatewayResponseError


class BkLoginGroup(OperationGroup):
    get_user = bind_property(
        Operation,
        name="get_user",
        method="GET",
        path="/api/c/compapi{bk_api_ver}/bk_login/get_user/",
    )
    get_all_users = bind_property(
        Operation,
        name="get_all_users",
        method="GET",
        path="/api/c/compapi{bk_api_ver}/bk_login/get_all_users/",
    )


class CcGroup(OperationGroup):
    search_business = bind_property(
        Operation,
        name="search_business",
        method="POST",
        path="/api/c/compapi{bk_api_ver}/cc/search_business/",
    )
    list_biz_hosts_topo = bind_property(
        Operation,
        name="list_biz_hosts_topo",
        method="POST",
        path="/api/c/compapi{bk_api_ver}/cc/list_biz_hosts_topo/",
    )


class Client(ESBClient):
    bk_login = bind_property(BkLoginGroup, name="bk_login")
    cc = bind_property(CcGroup, name="cc")


SENT = []


def record(response, *args, **kwargs):
    """requests response hook: what actually went on the wire (secret values left out)."""
    req = response.request
    url = urlsplit(req.url)
    auth = req.headers.get("X-Bkapi-Authorization")
    body = req.body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    SENT.append(
        {
            "method": req.method,
            "path": url.path,
            "query_keys": sorted(k for k, _ in parse_qsl(url.query)),
            "body_keys": sorted(json.loads(body).keys()) if body else [],
            "auth_header_keys": sorted(json.loads(auth).keys()) if auth else None,
            "user_agent": req.headers.get("User-Agent"),
            "status": response.status_code,
            "request_id_header": response.headers.get("X-Bkapi-Request-Id"),
        }
    )
    return response


def make_client(endpoint, app_code, app_secret, username):
    client = Client(endpoint=endpoint, bk_api_ver="v2", language="en")
    client.update_bkapi_authorization(
        bk_app_code=app_code,
        bk_app_secret=app_secret,
        bk_username=username,
    )
    client.set_timeout(20)
    client.session.hooks["response"].append(record)
    return client


def main():
    endpoint = os.environ["BK_COMPONENT_API_URL"]
    app_code = os.environ["BK_APP_CODE"]
    app_secret = os.environ["BK_APP_SECRET"]
    username = os.environ.get("BK_USERNAME", "admin")
    out = {"bkapi_client_core": bkapi_client_core.__version__}

    client = make_client(endpoint, app_code, app_secret, username)
    # One connection for the whole block, as the SDK recommends.
    with client:
        # GET: the data become the query string.
        out["get_user"] = client.bk_login.get_user({"bk_username": "alice"})
        # POST: the data become the JSON body.
        out["search_business"] = client.cc.search_business(
            {"fields": ["bk_biz_id", "bk_biz_name"]}
        )
        biz_ids = [b["bk_biz_id"] for b in out["search_business"]["data"]["info"]]
        out["list_biz_hosts_topo"] = client.cc.list_biz_hosts_topo(
            {
                "bk_biz_id": biz_ids[-1],
                "page": {"start": 0, "limit": 10},
                "fields": ["bk_host_id", "bk_host_innerip", "bk_cloud_id"],
            }
        )
        # A gateway error (the Rust test injects HTTP 503 on this API): the SDK raises.
        try:
            client.bk_login.get_all_users()
            out["gateway_error"] = None
        except APIGatewayResponseError as e:
            out["gateway_error"] = {
                "error_code": e.error_code,
                "error_message": e.error_message,
                "request_id": e.request_id,
                "status": e.response.status_code if e.response is not None else None,
            }

    # A wrong secret: the ESB answers HTTP 200 with result false (the SDK does not raise).
    bad = make_client(endpoint, app_code, "not-the-secret", username)
    out["wrong_secret"] = bad.bk_login.get_user()

    out["sent"] = SENT
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
