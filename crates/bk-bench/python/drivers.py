"""Python peers of the blueking-rs benchmark (`cargo xtask bench`).

Two clients make the same calls as the Rust drivers against bk-sim:

- ``bkapi``: the official Python SDK core, bkapi-client-core (PyPI), declared the way the
  official component SDKs declare theirs (an ESBClient whose components are
  OperationGroups); credentials in the ``X-Bkapi-Authorization`` header.
- ``classic``: a classic ESB client as the integration guide's ComponentClient does it:
  a ``requests.Session``, ``bk_app_code``/``bk_app_secret``/``bk_username`` added to the
  query string (GET) or the JSON body (POST), ``resp.json()``.

Modes (one JSON line on stdout, same fields as the Rust drivers):

    drivers.py load --client bkapi|classic --workload get_user|hosts_topo \
        --concurrency N --warmup S --window S --biz ID
    drivers.py sync --client bkapi

Concurrency above 1 uses threads, each with its own client (a requests.Session is not
meant to be shared between threads). Reads BK_COMPONENT_API_URL, BK_APP_CODE,
BK_APP_SECRET and BK_USERNAME.
"""

import argparse
import json
import math
import os
import sys
import threading
import time

import requests
from bkapi_client_core.esb import ESBClient, Operation, OperationGroup, bind_property

HOST_FIELDS = [
    "bk_host_id",
    "bk_host_innerip",
    "bk_host_outerip",
    "bk_cloud_id",
    "bk_host_name",
    "bk_os_type",
    "bk_os_name",
    "operator",
    "bk_bak_operator",
]
PAGE_SIZE = 500


class BkLoginGroup(OperationGroup):
    get_user = bind_property(
        Operation,
        name="get_user",
        method="GET",
        path="/api/c/compapi{bk_api_ver}/bk_login/get_user/",
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


class BkapiClient(ESBClient):
    bk_login = bind_property(BkLoginGroup, name="bk_login")
    cc = bind_property(CcGroup, name="cc")


def make_bkapi(env):
    client = BkapiClient(endpoint=env["url"], bk_api_ver="v2", language="en")
    client.update_bkapi_authorization(
        bk_app_code=env["app_code"],
        bk_app_secret=env["app_secret"],
        bk_username=env["username"],
    )
    client.set_timeout(30)
    return client


class ComponentClient:
    """The classic ESB client: app and user credentials as request parameters."""

    def __init__(self, endpoint, app_code, app_secret, username):
        self.endpoint = endpoint.rstrip("/")
        self.common_args = {
            "bk_app_code": app_code,
            "bk_app_secret": app_secret,
            "bk_username": username,
        }
        self.session = requests.Session()
        self.timeout = 30

    def request(self, method, component, api, params=None):
        url = "%s/api/c/compapi/v2/%s/%s/" % (self.endpoint, component, api)
        params = dict(params or {})
        params.update(self.common_args)
        if method == "GET":
            resp = self.session.get(url, params=params, timeout=self.timeout)
        else:
            resp = self.session.post(
                url,
                data=json.dumps(params),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
            )
        resp.raise_for_status()
        return resp.json()


def make_classic(env):
    return ComponentClient(env["url"], env["app_code"], env["app_secret"], env["username"])


def hosts_topo_params(biz, start):
    return {
        "bk_biz_id": biz,
        "page": {"start": start, "limit": PAGE_SIZE},
        "fields": HOST_FIELDS,
    }


def make_call(kind, workload, env, biz):
    """A no-argument function making one call; raises on any failure."""
    if kind == "bkapi":
        client = make_bkapi(env)
        if workload == "get_user":
            def call():
                r = client.bk_login.get_user()
                if not r.get("result"):
                    raise RuntimeError("get_user: %s" % r.get("message"))
        else:
            def call():
                r = client.cc.list_biz_hosts_topo(hosts_topo_params(biz, 0))
                if not r.get("result") or len(r["data"]["info"]) != PAGE_SIZE:
                    raise RuntimeError("list_biz_hosts_topo: %s" % r.get("message"))
    else:
        client = make_classic(env)
        if workload == "get_user":
            def call():
                r = client.request("GET", "bk_login", "get_user")
                if not r.get("result"):
                    raise RuntimeError("get_user: %s" % r.get("message"))
        else:
            def call():
                r = client.request("POST", "cc", "list_biz_hosts_topo", hosts_topo_params(biz, 0))
                if not r.get("result") or len(r["data"]["info"]) != PAGE_SIZE:
                    raise RuntimeError("list_biz_hosts_topo: %s" % r.get("message"))
    return call


def peak_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def percentile(sorted_us, p):
    if not sorted_us:
        return 0.0
    rank = max(1, min(len(sorted_us), math.ceil(p / 100.0 * len(sorted_us))))
    return float(sorted_us[rank - 1])


def load(args, env):
    # Clients are made before the clock starts; the warmup opens their connections.
    calls = [make_call(args.client, args.workload, env, args.biz) for _ in range(args.concurrency)]
    tallies = [{"lat": [], "errors": 0, "first_error": None} for _ in calls]
    barrier = threading.Barrier(len(calls) + 1)
    bounds = {}

    def worker(call, tally):
        barrier.wait()
        start, until = bounds["from"], bounds["until"]
        lat = tally["lat"]
        clock = time.perf_counter
        while True:
            t0 = clock()
            if t0 >= until:
                break
            err = None
            try:
                call()
            except Exception as e:  # noqa: BLE001 - every failure counts as an error
                err = e
            t1 = clock()
            if t1 < start or t1 > until:
                continue
            if err is None:
                lat.append(int((t1 - t0) * 1e6))
            else:
                tally["errors"] += 1
                if tally["first_error"] is None:
                    tally["first_error"] = repr(err)

    threads = [threading.Thread(target=worker, args=(c, t), daemon=True) for c, t in zip(calls, tallies)]
    for t in threads:
        t.start()
    now = time.perf_counter()
    bounds["from"] = now + args.warmup
    bounds["until"] = bounds["from"] + args.window
    barrier.wait()
    for t in threads:
        t.join()
    lat = sorted(x for t in tallies for x in t["lat"])
    errors = sum(t["errors"] for t in tallies)
    first = next((t["first_error"] for t in tallies if t["first_error"]), None)
    return {
        "client": args.client,
        "workload": args.workload,
        "concurrency": args.concurrency,
        "requests": len(lat),
        "errors": errors,
        "elapsed_s": args.window,
        "rps": len(lat) / args.window,
        "p50_ms": percentile(lat, 50) / 1000.0,
        "p99_ms": percentile(lat, 99) / 1000.0,
        "peak_rss_kb": peak_rss_kb(),
        "first_error": first,
    }


def sync(args, env):
    """Full host sync, sequential paging, every host kept in memory (like the SDK's)."""
    client = make_bkapi(env)
    started = time.perf_counter()
    calls = 0
    bizs = []
    start = 0
    while True:
        r = client.cc.search_business({"fields": ["bk_biz_id"], "page": {"start": start, "limit": 200}})
        calls += 1
        if not r.get("result"):
            raise RuntimeError("search_business: %s" % r.get("message"))
        info = r["data"]["info"]
        bizs.extend(b["bk_biz_id"] for b in info)
        start += len(info)
        if not info or start >= r["data"]["count"]:
            break
    hosts = []
    for biz in bizs:
        start = 0
        while True:
            r = client.cc.list_biz_hosts_topo(hosts_topo_params(biz, start))
            calls += 1
            if not r.get("result"):
                raise RuntimeError("list_biz_hosts_topo: %s" % r.get("message"))
            info = r["data"]["info"]
            hosts.extend(info)
            start += len(info)
            if not info or start >= r["data"]["count"]:
                break
    wall = time.perf_counter() - started
    return {
        "client": "bkapi",
        "concurrency": 1,
        "hosts": len(hosts),
        "calls": calls,
        "wall_s": wall,
        "peak_rss_kb": peak_rss_kb(),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["load", "sync", "versions"])
    p.add_argument("--client", choices=["bkapi", "classic"], default="bkapi")
    p.add_argument("--workload", choices=["get_user", "hosts_topo"], default="get_user")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--window", type=float, default=3.0)
    p.add_argument("--biz", type=int, default=3)
    args = p.parse_args()
    if args.mode == "versions":
        import bkapi_client_core

        out = {
            "python": sys.version.split()[0],
            "bkapi_client_core": bkapi_client_core.__version__,
            "requests": requests.__version__,
        }
    else:
        env = {
            "url": os.environ["BK_COMPONENT_API_URL"],
            "app_code": os.environ["BK_APP_CODE"],
            "app_secret": os.environ["BK_APP_SECRET"],
            "username": os.environ["BK_USERNAME"],
        }
        out = load(args, env) if args.mode == "load" else sync(args, env)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
