"""Runs the third-party SCIM checker scim2-tester against one tenant and prints one line per
check: status, resource type, title and reason, separated by tabs. Driven by
`cargo xtask conformance`, which keeps no dependency of its own and so reads plain lines."""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> None:
    endpoint, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=endpoint, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    for result in check_server(SyncSCIMClient(http)):
        fields = [
            result.status.name,
            getattr(result, "resource_type", None) or "Service",
            result.title or "-",
            " ".join((result.reason or "").split())[:400],
        ]
        print("\t".join(fields), flush=True)


if __name__ == "__main__":
    main()
