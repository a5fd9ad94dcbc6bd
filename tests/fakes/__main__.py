"""python -m tests.fakes --quickbooks-port P --salesforce-port Q --gateway-url URL
--verifier-token T --callout-secret S

Serves both fakes on 127.0.0.1, prints one JSON line with the URLs and the CA bundle once they
are ready, and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from . import start_fakes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quickbooks-port", type=int, default=0)
    parser.add_argument("--salesforce-port", type=int, default=0)
    parser.add_argument("--gateway-url", default=None)
    parser.add_argument("--verifier-token", default="")
    parser.add_argument("--callout-secret", default="")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    fakes = start_fakes(
        gateway_url=args.gateway_url,
        verifier_token=args.verifier_token,
        callout_secret=args.callout_secret,
        quickbooks_port=args.quickbooks_port,
        salesforce_port=args.salesforce_port,
    )
    try:
        print(
            json.dumps(
                {
                    "ca_bundle": fakes.ca_bundle,
                    "quickbooks_url": fakes.quickbooks_url,
                    "salesforce_url": fakes.salesforce_url,
                }
            ),
            flush=True,
        )
        stop.wait()
    finally:
        fakes.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
